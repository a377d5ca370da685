package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// opaBinary is bin/opa (`make bin/opa`), or $LOADGEN_OPA; empty if neither
// exists.
func opaBinary() string {
	if p := os.Getenv("LOADGEN_OPA"); p != "" {
		return p
	}
	if p, err := filepath.Abs("../../bin/opa"); err == nil {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// TestRegoPolicy evaluates the written Rego policy and data with `opa eval`
// over every generated request, wrapped exactly as the load generator sends
// it, and checks each expected decision.
func TestRegoPolicy(t *testing.T) {
	t.Parallel()
	w, reqs := Generate(WorkloadOptions{Tenants: 5, Agents: 8, Tools: 10, Requests: 3000, Seed: 3})
	dir := t.TempDir()
	policy, data, err := WriteRego(dir, w)
	if err != nil {
		t.Fatal(err)
	}
	var d regoData
	b, err := os.ReadFile(data)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("data.json: %v", err)
	}
	if len(d.Agents) != len(w.Agents) || len(d.Tools) != len(w.Tools) {
		t.Errorf("data.json has %d agents and %d tools, want %d and %d", len(d.Agents), len(d.Tools), len(w.Agents), len(w.Tools))
	}

	opa := opaBinary()
	if opa == "" {
		t.Skip("no OPA binary: run `make bin/opa` or set LOADGEN_OPA")
	}
	// The requests go in as data.cases, each the {"input": ...} body sent
	// to OPA's data API.
	cases := make([]json.RawMessage, len(reqs))
	for i, r := range reqs {
		cases[i] = wrapOPA(authzenBody(r))
	}
	cb, err := json.Marshal(map[string]any{"cases": cases})
	if err != nil {
		t.Fatal(err)
	}
	casesFile := filepath.Join(dir, "cases.json")
	if err := os.WriteFile(casesFile, cb, 0o644); err != nil {
		t.Fatal(err)
	}
	// The comprehension lives in a module: in an ad-hoc query, OPA v1.22.3
	// ignores `with input as` inside a comprehension.
	check := filepath.Join(dir, "check.rego")
	if err := os.WriteFile(check, []byte("package check\n\n"+
		"decisions := [x | some c in data.cases; x := data.agentguard.authz.allow with input as c.input]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(opa, "eval", "--format", "json", "-d", policy, "-d", data, "-d", casesFile, "-d", check,
		"data.check.decisions").Output()
	if err != nil {
		t.Fatalf("opa eval: %v", err)
	}
	var res struct {
		Result []struct {
			Expressions []struct {
				Value []bool `json:"value"`
			} `json:"expressions"`
		} `json:"result"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("opa eval output: %v", err)
	}
	if len(res.Result) != 1 || len(res.Result[0].Expressions) != 1 {
		t.Fatalf("opa eval output: %s", out)
	}
	got := res.Result[0].Expressions[0].Value
	if len(got) != len(reqs) {
		t.Fatalf("opa eval returned %d decisions for %d requests", len(got), len(reqs))
	}
	for i, r := range reqs {
		if got[i] != r.Expect {
			t.Fatalf("request #%d %s: opa says %v, expected %v", i, authzenBody(r), got[i], r.Expect)
		}
	}
}

func TestDecode(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		decode  func([]byte) (bool, error)
		body    string
		want    bool
		wantErr bool
	}{
		{"pdp allow", decodePDP, `{"decision":true,"context":{"id":"x"}}`, true, false},
		{"pdp deny", decodePDP, `{"decision": false}`, false, false},
		{"pdp no decision", decodePDP, `{}`, false, true},
		{"pdp not json", decodePDP, `<html>`, false, true},
		{"pdp whitespace", decodePDP, ` { "decision" : true }`, true, false},
		{"pdp later member", decodePDP, `{"context":{"decision":false},"decision":true}`, true, false},
		{"pdp duplicate key", decodePDP, `{"decision":true,"decision":false}`, false, false},
		{"pdp invalid tail", decodePDP, `{"decision":true,`, false, true},
		{"pdp not bool", decodePDP, `{"decision":"true"}`, false, true},
		{"opa allow", decodeOPA, `{"result":true}`, true, false},
		{"opa deny", decodeOPA, `{"result":false}`, false, false},
		{"opa short", decodeOPA, `{"result":false`, false, true},
		{"opa undefined", decodeOPA, `{}`, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := tc.decode([]byte(tc.body))
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("decode(%s) = %v, %v; want %v, error %v", tc.body, got, err, tc.want, tc.wantErr)
			}
		})
	}
}
