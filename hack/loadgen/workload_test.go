package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/cedar-policy/cedar-go"
)

// tiny is a hand-made workload covering every rule of policies/pdp/tools.cedar.
func tiny() *Workload {
	w := &Workload{
		Tenants: []string{"a", "b"},
		Servers: []ToolServer{{ID: "a/s", Tenant: "a"}, {ID: "b/s", Tenant: "b"}},
		Tools: []Tool{
			{ID: "a-s/low", Server: "a/s", Tenant: "a", Sensitivity: "low"},
			{ID: "a-s/medium", Server: "a/s", Tenant: "a", Sensitivity: "medium"},
			{ID: "a-s/high", Server: "a/s", Tenant: "a", Sensitivity: "high"},
			{ID: "b-s/low", Server: "b/s", Tenant: "b", Sensitivity: "low"},
		},
		Agents: []Agent{
			{ID: "a/auto", Tenant: "a", Mode: modeAutonomous, Allowed: []string{"a-s/low", "a-s/high", "b-s/low"}},
			{ID: "a/deleg", Tenant: "a", Mode: modeUserDelegated, Allowed: []string{"a-s/low"}},
		},
	}
	w.index()
	return w
}

func TestDecide(t *testing.T) {
	t.Parallel()
	w := tiny()
	for _, tc := range []struct {
		name, agent, tool string
		user, want        bool
	}{
		{"allowlisted own-tenant low", "a/auto", "a-s/low", false, true},
		{"not allowlisted", "a/auto", "a-s/medium", false, false},
		{"allowlisted but high sensitivity", "a/auto", "a-s/high", false, false},
		{"allowlisted but cross-tenant", "a/auto", "b-s/low", false, false},
		{"delegated with user", "a/deleg", "a-s/low", true, true},
		{"delegated without user", "a/deleg", "a-s/low", false, false},
		{"unknown agent", "a/nobody", "a-s/low", true, false},
		{"unknown tool", "a/auto", "a-s/nothing", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := w.Decide(tc.agent, tc.tool, tc.user); got != tc.want {
				t.Errorf("Decide(%s, %s, user=%v) = %v, want %v", tc.agent, tc.tool, tc.user, got, tc.want)
			}
		})
	}
}

func TestGenerate(t *testing.T) {
	t.Parallel()
	o := WorkloadOptions{Tenants: 4, Agents: 10, Tools: 12, Servers: 3, Requests: 5000, Seed: 7}
	w, reqs := Generate(o)
	if got, want := len(w.Agents), 40; got != want {
		t.Errorf("agents = %d, want %d", got, want)
	}
	if got, want := len(w.Tools), 48; got != want {
		t.Errorf("tools = %d, want %d", got, want)
	}
	if got := len(reqs); got != o.Requests {
		t.Errorf("requests = %d, want %d", got, o.Requests)
	}

	_, again := Generate(o)
	if !slices.Equal(reqs, again) {
		t.Error("same seed, different requests")
	}
	o.Seed++
	if _, other := Generate(o); slices.Equal(reqs, other) {
		t.Error("different seed, same requests")
	}

	// The mix must exercise every rule, on both sides of each.
	var allowed, deniedOwn, deniedHigh, crossAllowlisted, delegatedUser, delegatedNoUser int
	for _, r := range reqs {
		ag, tool := w.agents[r.Agent], w.tools[r.Tool]
		if r.Expect != w.Decide(r.Agent, r.Tool, r.User != "") {
			t.Fatalf("request %+v: Expect disagrees with Decide", r)
		}
		switch {
		case r.Expect:
			allowed++
		case tool.Tenant != ag.Tenant && ag.allowed[r.Tool]:
			crossAllowlisted++
		case tool.Tenant == ag.Tenant && ag.allowed[r.Tool] && tool.Sensitivity == "high":
			deniedHigh++
		case tool.Tenant == ag.Tenant && !ag.allowed[r.Tool]:
			deniedOwn++
		}
		if ag.Mode == modeUserDelegated && tool.Tenant == ag.Tenant && ag.allowed[r.Tool] && tool.Sensitivity != "high" {
			if r.User != "" {
				delegatedUser++
			} else {
				delegatedNoUser++
			}
		}
	}
	for name, n := range map[string]int{
		"allowed": allowed, "denied, not allowlisted": deniedOwn, "denied, high sensitivity": deniedHigh,
		"cross-tenant allowlisted": crossAllowlisted,
		"delegated with user":      delegatedUser, "delegated without user": delegatedNoUser,
	} {
		if n == 0 {
			t.Errorf("no %s request in the mix", name)
		}
	}
	if frac := float64(allowed) / float64(len(reqs)); frac < 0.2 || frac > 0.8 {
		t.Errorf("allowed fraction %.2f, want a mix", frac)
	}
}

// TestCedarBundle evaluates the written bundle with cedar-go directly and
// checks every request's expected decision: the generator and the Cedar
// policies agree before any server is involved.
func TestCedarBundle(t *testing.T) {
	t.Parallel()
	w, reqs := Generate(WorkloadOptions{Tenants: 5, Agents: 8, Tools: 10, Requests: 3000, Seed: 3})
	dir, err := WriteBundle(filepath.Join(t.TempDir(), "bundle"), "../../policies/pdp", w)
	if err != nil {
		t.Fatal(err)
	}
	pdpDir := filepath.Join(dir, "pdp")
	for _, f := range []string{"schema.cedarschema", "tools.cedar", "mapping.yaml", "entities.json"} {
		if _, err := os.Stat(filepath.Join(pdpDir, f)); err != nil {
			t.Errorf("bundle lacks %s: %v", f, err)
		}
	}

	ps := cedar.NewPolicySet()
	files, _ := filepath.Glob(filepath.Join(pdpDir, "*.cedar"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		set, err := cedar.NewPolicySetFromBytes(f, b)
		if err != nil {
			t.Fatal(err)
		}
		for id, p := range set.All() {
			ps.Add(cedar.PolicyID(filepath.Base(f)+"/"+string(id)), p)
		}
	}
	b, err := os.ReadFile(filepath.Join(pdpDir, "entities.json"))
	if err != nil {
		t.Fatal(err)
	}
	var entities cedar.EntityMap
	if err := json.Unmarshal(b, &entities); err != nil {
		t.Fatalf("entities.json: %v", err)
	}
	if got, want := len(entities), len(w.Tenants)+len(w.Servers)+len(w.Tools)+len(w.Agents); got != want {
		t.Errorf("entities = %d, want %d", got, want)
	}

	for i, r := range reqs {
		request := cedar.RecordMap{}
		if r.User != "" {
			request["user"] = cedar.String(r.User)
		}
		dec, diag := cedar.Authorize(ps, entities, cedar.Request{
			Principal: cedar.NewEntityUID("Agent", cedar.String(r.Agent)),
			Action:    cedar.NewEntityUID("Action", "call_tool"),
			Resource:  cedar.NewEntityUID("Tool", cedar.String(r.Tool)),
			Context:   cedar.NewRecord(cedar.RecordMap{"request": cedar.NewRecord(request)}),
		})
		if len(diag.Errors) > 0 {
			t.Fatalf("request #%d %+v: evaluation errors %v", i, r, diag.Errors)
		}
		if got := dec == cedar.Allow; got != r.Expect {
			t.Fatalf("request #%d %+v: cedar says %v, expected %v (reasons %v)", i, r, got, r.Expect, diag.Reasons)
		}
	}
}
