package check_test

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/agentguard/agentguard/bundles"
	"github.com/agentguard/agentguard/bundles/check"
)

// TestDefaultBundle compiles policies/ and runs its cases, as
// `agentguard bundle test policies/` does.
func TestDefaultBundle(t *testing.T) {
	b, err := bundles.Read("../../policies", bundles.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := check.Compile(context.Background(), b, check.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range c.Warnings {
		t.Errorf("warning: %s", w)
	}
	r := check.Run(context.Background(), c)
	for _, cr := range r.Cases {
		t.Run(cr.File+"/"+cr.Name, func(t *testing.T) {
			if !cr.Passed {
				t.Errorf("expected %s, got %s: %s", cr.Expected, cr.Got, cr.Failure)
			}
		})
	}
	if !r.OK() {
		t.Errorf("report: %d passed, %d failed", r.Passed, r.Failed)
	}
}

// variant returns the default bundle with files replaced (nil deletes).
func variant(t *testing.T, edits map[string]string) *bundles.Bundle {
	t.Helper()
	b, err := bundles.Read("../../policies", bundles.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for _, n := range b.Files() {
		files[n], _ = b.ReadFile(n)
	}
	for n, v := range edits {
		if v == "\x00delete" {
			delete(files, n)
			continue
		}
		files[n] = []byte(v)
	}
	nb, err := bundles.New(files)
	if err != nil {
		t.Fatal(err)
	}
	return nb
}

func TestCompileRefusesInvalidBundles(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		edits map[string]string
		want  string // the file the error must name
	}{
		{name: "cedar syntax", edits: map[string]string{"pdp/tools.cedar": "@id(\"x\")\npermit(principal, action resource);"}, want: "pdp/tools.cedar"},
		{name: "cedar schema violation", edits: map[string]string{"pdp/extra.cedar": "@id(\"extra\")\npermit(principal is NoSuchType, action, resource);"}, want: "pdp/extra.cedar"},
		{name: "rego syntax", edits: map[string]string{"admission/bad.rego": "package agentguard.admission\n\ndeny contains x if {"}, want: "admission/bad.rego"},
		{name: "admission config unknown field", edits: map[string]string{"admission/config.yaml": "apiVersion: agentguard.io/v1alpha1\nkind: AdmissionConfig\ndefaultMod: enforce\n"}, want: "admission/config.yaml"},
		{name: "entities do not conform", edits: map[string]string{"pdp/entities.json": `[{"uid":{"type":"NoSuchType","id":"x"},"attrs":{},"parents":[]}]`}, want: "pdp/entities.json"},
		{name: "authz test unknown field", edits: map[string]string{"tests/authz.json": `{"cases":[{"name":"x","request":{},"expected":true}]}`}, want: "tests/authz.json"},
		{name: "admission test without object", edits: map[string]string{"tests/admission/guardrails.yaml": "cases:\n  - name: x\n    allowed: true\n"}, want: "tests/admission/guardrails.yaml"},
		{name: "duplicate case names", edits: map[string]string{"tests/admission/guardrails.yaml": "cases:\n  - {name: x, object: {apiVersion: v1, kind: Pod}, allowed: true}\n  - {name: x, object: {apiVersion: v1, kind: Pod}, allowed: true}\n"}, want: "tests/admission/guardrails.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := check.Compile(context.Background(), variant(t, tt.edits), check.Options{})
			if !errors.Is(err, check.ErrInvalidBundle) {
				t.Fatalf("err = %v, want ErrInvalidBundle", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error does not name %s:\n%v", tt.want, err)
			}
		})
	}
}

func TestCompileWarnsAboutStrayFiles(t *testing.T) {
	t.Parallel()
	c, err := check.Compile(context.Background(), variant(t, map[string]string{"pdp/tools.cedar.bak": "x"}), check.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], "pdp/tools.cedar.bak") {
		t.Errorf("warnings = %v, want one about pdp/tools.cedar.bak", c.Warnings)
	}
}

func TestCompileWarnsAboutAllowFallback(t *testing.T) {
	t.Parallel()
	fallback := "rules:\n  - {resourceType: tool, actions: [call_tool], resources: [github/search_issues], mode: allow}\n"
	c, err := check.Compile(context.Background(), variant(t, map[string]string{"pdp/fallback.yaml": fallback}), check.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], "ALLOWED") {
		t.Errorf("warnings = %v, want one about the allow fallback", c.Warnings)
	}
	// An allow fallback for a tool that is not low-risk does not build.
	fallback = "rules:\n  - {resourceType: tool, resources: [payments/refund], mode: allow}\n"
	if _, err := check.Compile(context.Background(), variant(t, map[string]string{"pdp/fallback.yaml": fallback}), check.Options{}); !errors.Is(err, check.ErrInvalidBundle) {
		t.Errorf("allow fallback for a high-risk tool: err = %v, want ErrInvalidBundle", err)
	}
}

func TestRunReportsFailures(t *testing.T) {
	t.Parallel()
	b := variant(t, map[string]string{
		"tests/authz.json": `{"cases":[
		  {"name":"wrong decision","request":{"subject":{"type":"agent","id":"acme-agents/triage"},"action":{"name":"call_tool"},"resource":{"type":"tool","id":"github/create_issue"}},"decision":false},
		  {"name":"right decision","request":{"subject":{"type":"agent","id":"acme-agents/triage"},"action":{"name":"call_tool"},"resource":{"type":"tool","id":"github/create_issue"}},"decision":true,"policies":["allow-allowlisted-tool-in-own-tenant"]}]}`,
		"tests/admission/guardrails.yaml": "cases:\n  - name: wrong violations\n    object: {apiVersion: v1, kind: Pod, metadata: {name: p, labels: {agentguard.io/agent: a}}, spec: {serviceAccountName: a, containers: [{name: c, image: registry.corp.example/a:1}]}}\n    allowed: true\n    violations: [AG-GEN-999]\n",
	})
	c, err := check.Compile(context.Background(), b, check.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := check.Run(context.Background(), c)
	got := map[string]bool{}
	for _, cr := range r.Cases {
		got[cr.Name] = cr.Passed
	}
	want := map[string]bool{"wrong decision": false, "right decision": true, "wrong violations": false}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("pass/fail (-want +got):\n%s", diff)
	}
	if r.OK() || r.Failed != 2 || r.Passed != 1 {
		t.Errorf("report %d passed %d failed OK=%v", r.Passed, r.Failed, r.OK())
	}
	// Only the passing case's policy is covered.
	if r.Coverage == nil || r.Coverage.Policies < 2 ||
		slices.Contains(r.Coverage.Uncovered, "allow-allowlisted-tool-in-own-tenant") ||
		!slices.Contains(r.Coverage.Uncovered, "forbid-cross-tenant") {
		t.Errorf("coverage = %+v", r.Coverage)
	}

	var junit bytes.Buffer
	if err := check.WriteJUnit(&junit, r); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
		Suites   []struct {
			Name  string `xml:"name,attr"`
			Cases []struct {
				Name    string  `xml:"name,attr"`
				Failure *string `xml:"failure"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(junit.Bytes(), &doc); err != nil {
		t.Fatalf("JUnit output does not parse: %v\n%s", err, junit.String())
	}
	if doc.Tests != 3 || doc.Failures != 2 || len(doc.Suites) != 2 {
		t.Errorf("JUnit tests=%d failures=%d suites=%d, want 3, 2, 2", doc.Tests, doc.Failures, len(doc.Suites))
	}
	var table bytes.Buffer
	if err := check.WriteTable(&table, r); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(table.String(), "FAIL tests/authz.json: wrong decision") {
		t.Errorf("table does not explain the failure:\n%s", table.String())
	}
}

func FuzzParseSuites(f *testing.F) {
	f.Add([]byte(`{"cases":[{"name":"a","request":{"subject":{"type":"agent","id":"x"},"action":{"name":"call_tool"},"resource":{"type":"tool","id":"t"}},"decision":true,"policies":["p"]}]}`),
		[]byte("cases:\n  - name: a\n    object: {apiVersion: v1, kind: Pod}\n    allowed: true\n    violations: [AG-GEN-001]\n"))
	f.Add([]byte(`{"cases":[]}`), []byte("cases: []"))
	f.Add([]byte(`[]`), []byte("- x"))
	f.Fuzz(func(t *testing.T, authz, admission []byte) {
		b, err := bundles.New(map[string][]byte{
			".manifest":                       []byte(`{"name":"f","revision":"1"}`),
			"tests/authz.json":                authz,
			"tests/admission/cases.yaml":      admission,
			"tests/admission/not-a-test.json": []byte("ignored"),
		})
		if err != nil {
			t.Fatal(err)
		}
		suites, err := check.ParseSuites(b.FS(), b.Files())
		if err != nil {
			return
		}
		for _, s := range suites {
			switch {
			case s.Authz != nil && len(s.Authz.Cases) == 0, s.Admission != nil && len(s.Admission.Cases) == 0:
				t.Fatalf("%s: accepted without cases", s.File)
			case s.File != "tests/authz.json" && s.File != "tests/admission/cases.yaml":
				t.Fatalf("parsed %s, which is not a test file", s.File)
			}
		}
	})
}

func TestRunChecksFallbackExpectations(t *testing.T) {
	t.Parallel()
	b := variant(t, map[string]string{
		"tests/authz.json": `{"cases":[
		  {"name":"declared local","request":{"subject":{"type":"agent","id":"acme-agents/triage"},"action":{"name":"call_tool"},"resource":{"type":"tool","id":"github/create_issue"}},"decision":true,"policies":["allow-allowlisted-tool-in-own-tenant"],"fallback":"local"},
		  {"name":"not declared allow","request":{"subject":{"type":"agent","id":"acme-agents/triage"},"action":{"name":"call_tool"},"resource":{"type":"tool","id":"payments/refund"}},"decision":false,"fallback":"allow"}]}`,
	})
	c, err := check.Compile(context.Background(), b, check.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := check.Run(context.Background(), c)
	got := map[string]bool{}
	for _, cr := range r.Cases {
		if cr.Kind == check.KindAuthz {
			got[cr.Name] = cr.Passed
		}
	}
	if diff := cmp.Diff(map[string]bool{"declared local": true, "not declared allow": false}, got); diff != "" {
		t.Errorf("pass/fail (-want +got):\n%s", diff)
	}
}
