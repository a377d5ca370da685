package pdp_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/cedar-policy/cedar-go/types"
	"github.com/google/go-cmp/cmp"

	"github.com/agentguard/agentguard/pdp"
)

// clock is a settable PDP clock.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func grantEngine(t *testing.T) (*pdp.Engine, *pdp.Grants, *clock) {
	t.Helper()
	c := &clock{t: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)}
	g := pdp.NewGrants()
	src, err := pdp.ReadDir("../policies")
	if err != nil {
		t.Fatal(err)
	}
	eng, err := pdp.New(src, pdp.Options{Now: c.now, Grants: g})
	if err != nil {
		t.Fatal(err)
	}
	return eng, g, c
}

func uid(typ, id string) types.EntityUID {
	return types.NewEntityUID(types.EntityType(typ), types.String(id))
}

func call(agent, tool, task string) *pdp.Request {
	r := &pdp.Request{
		Subject:  pdp.Entity{Type: "agent", ID: agent},
		Action:   pdp.Action{Name: "call_tool"},
		Resource: pdp.Entity{Type: "tool", ID: tool},
	}
	if task != "" {
		r.Context = []byte(`{"task":"` + task + `"}`)
	}
	return r
}

func TestGrantLifecycle(t *testing.T) {
	t.Parallel()
	eng, grants, clk := grantEngine(t)
	refund := call("acme-agents/triage", "payments/refund", "")
	mustDecide := func(req *pdp.Request, want bool, wantReasons []string) {
		t.Helper()
		d, err := eng.Evaluate(req)
		if err != nil {
			t.Fatal(err)
		}
		if d.Allowed != want {
			t.Fatalf("allowed = %v, want %v (reasons %v)", d.Allowed, want, d.Reasons)
		}
		if diff := cmp.Diff(wantReasons, d.Reasons); diff != "" {
			t.Fatalf("reasons (-want +got):\n%s", diff)
		}
	}
	mustDecide(refund, false, nil)

	g := pdp.Grant{
		ID: "g1", Principal: uid("Agent", "acme-agents/triage"), Action: uid("Action", "call_tool"),
		Resource: uid("Tool", "payments/refund"), Until: clk.t.Add(10 * time.Minute),
	}
	if err := eng.CheckGrant(g); err != nil {
		t.Fatal(err)
	}
	grants.Put(g)
	mustDecide(refund, true, []string{"grant:g1"})
	// Exactly scoped: another agent, another tool are not covered.
	mustDecide(call("acme-agents/assistant", "payments/refund", ""), false, []string{"forbid-delegated-agent-without-user"})
	assistantRefund := call("acme-agents/assistant", "payments/refund", "")
	assistantRefund.Context = []byte(`{"user":"alice@acme.example"}`)
	mustDecide(assistantRefund, false, nil)

	clk.t = g.Until.Add(-time.Millisecond)
	mustDecide(refund, true, []string{"grant:g1"})
	clk.t = g.Until.Add(time.Second) // one second after approved_until
	mustDecide(refund, false, nil)

	clk.t = g.Until.Add(-time.Minute)
	grants.Delete("g1") // revocation
	mustDecide(refund, false, nil)
}

func TestForbidBeatsGrant(t *testing.T) {
	t.Parallel()
	eng, grants, clk := grantEngine(t)
	// A grant across tenants: the forbid still wins.
	grants.Put(pdp.Grant{
		ID: "x", Principal: uid("Agent", "acme-agents/triage"), Action: uid("Action", "call_tool"),
		Resource: uid("Tool", "crm/export_contacts"), Until: clk.t.Add(time.Hour),
	})
	d, err := eng.Evaluate(call("acme-agents/triage", "crm/export_contacts", ""))
	if err != nil {
		t.Fatal(err)
	}
	if d.Allowed || !cmp.Equal(d.Reasons, []string{"forbid-cross-tenant"}) {
		t.Fatalf("decision %+v, want a denial by forbid-cross-tenant", d)
	}
}

func TestTaskBoundGrant(t *testing.T) {
	t.Parallel()
	eng, grants, clk := grantEngine(t)
	grants.Put(pdp.Grant{
		ID: "t", Principal: uid("Agent", "acme-agents/triage"), Action: uid("Action", "call_tool"),
		Resource: uid("Tool", "payments/refund"), Until: clk.t.Add(time.Hour), Task: "ticket-7",
	})
	for _, tc := range []struct {
		task string
		want bool
	}{{"ticket-7", true}, {"ticket-8", false}, {"", false}} {
		d, err := eng.Evaluate(call("acme-agents/triage", "payments/refund", tc.task))
		if err != nil {
			t.Fatal(err)
		}
		if d.Allowed != tc.want {
			t.Errorf("task %q: allowed = %v, want %v", tc.task, d.Allowed, tc.want)
		}
	}
}

func TestCheckGrantRefusesWhatTheSchemaForbids(t *testing.T) {
	t.Parallel()
	eng, _, clk := grantEngine(t)
	tests := map[string]pdp.Grant{
		"no id":              {Principal: uid("Agent", "a"), Action: uid("Action", "call_tool"), Resource: uid("Tool", "t"), Until: clk.t},
		"no expiry":          {ID: "a", Principal: uid("Agent", "a"), Action: uid("Action", "call_tool"), Resource: uid("Tool", "t")},
		"wrong resource":     {ID: "b", Principal: uid("Agent", "a"), Action: uid("Action", "call_tool"), Resource: uid("ToolServer", "s"), Until: clk.t},
		"unknown action":     {ID: "c", Principal: uid("Agent", "a"), Action: uid("Action", "rm"), Resource: uid("Tool", "t"), Until: clk.t},
		"user as principal":  {ID: "d", Principal: uid("User", "u"), Action: uid("Action", "call_tool"), Resource: uid("Tool", "t"), Until: clk.t},
		"unknown principals": {ID: "e", Principal: uid("Robot", "r"), Action: uid("Action", "call_tool"), Resource: uid("Tool", "t"), Until: clk.t},
	}
	for name, g := range tests {
		if err := eng.CheckGrant(g); err == nil {
			t.Errorf("%s: grant accepted", name)
		}
	}
}

// BenchmarkGrants measures a decision with 10 and 100,000 active grants: the
// grant index keeps the cost flat.
func BenchmarkGrants(b *testing.B) {
	for _, n := range []int{10, 100_000} {
		src, err := pdp.ReadDir("../policies")
		if err != nil {
			b.Fatal(err)
		}
		grants := pdp.NewGrants()
		until := time.Now().Add(time.Hour)
		for i := range n {
			grants.Put(pdp.Grant{
				ID: fmt.Sprint(i), Principal: uid("Agent", fmt.Sprintf("ns%d/agent%d", i%1000, i)),
				Action: uid("Action", "call_tool"), Resource: uid("Tool", fmt.Sprintf("srv/tool%d", i%500)), Until: until,
			})
		}
		grants.Put(pdp.Grant{ID: "mine", Principal: uid("Agent", "acme-agents/triage"), Action: uid("Action", "call_tool"), Resource: uid("Tool", "payments/refund"), Until: until})
		eng, err := pdp.New(src, pdp.Options{Grants: grants})
		if err != nil {
			b.Fatal(err)
		}
		req := call("acme-agents/triage", "payments/refund", "")
		b.Run(fmt.Sprintf("grants=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				d, err := eng.Evaluate(req)
				if err != nil || !d.Allowed {
					b.Fatalf("%v %v", d, err)
				}
			}
		})
	}
}

func TestGrantableDenials(t *testing.T) {
	t.Parallel()
	eng, _, _ := grantEngine(t)
	tests := []struct {
		name string
		req  *pdp.Request
		want string // declaration name, "" for not requestable
	}{
		{"default deny on a declared tool", call("acme-agents/triage", "payments/refund", ""), "payments-refund"},
		{"forbid is final", call("acme-agents/triage", "crm/export_contacts", ""), ""},
		{"an allow needs no grant", call("acme-agents/triage", "github/create_issue", ""), ""},
		{"not on the allowlist, declared auto", func() *pdp.Request {
			r := call("acme-agents/assistant", "github/create_issue", "")
			r.Context = []byte(`{"user":"alice@acme.example"}`)
			return r
		}(), "github-write"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := eng.Evaluate(tt.req)
			if err != nil {
				t.Fatal(err)
			}
			g, ok := eng.Grantable(tt.req, d)
			got := ""
			if ok {
				got = g.Name
			}
			if got != tt.want {
				t.Errorf("grantable = %q, want %q (decision %+v)", got, tt.want, d)
			}
		})
	}
}

func TestFallbackRules(t *testing.T) {
	t.Parallel()
	eng, _, _ := grantEngine(t)
	f := eng.Fallback()
	for tool, want := range map[string]string{
		"github/search_issues": pdp.FallbackCached,
		"github/create_issue":  pdp.FallbackLocal,
		"payments/refund":      pdp.FallbackDeny,
		"crm/export_contacts":  pdp.FallbackDeny, // not listed: deny
	} {
		if got := f.Rule(call("acme-agents/triage", tool, "")).Mode; got != want {
			t.Errorf("%s: mode %s, want %s", tool, got, want)
		}
	}
	bad := map[string]string{
		"allow on a high tool":    "rules:\n- {resourceType: tool, resources: [\"payments/*\"], mode: allow}\n",
		"allow on nothing":        "rules:\n- {resourceType: tool, resources: [\"nope/*\"], mode: allow}\n",
		"cached without maxStale": "rules:\n- {resourceType: tool, resources: [\"github/*\"], mode: cached}\n",
		"unknown mode":            "rules:\n- {resourceType: tool, resources: [\"github/*\"], mode: maybe}\n",
		"unknown field":           "rulez: []\n",
		"maxStale on deny":        "rules:\n- {resourceType: tool, resources: [\"x\"], mode: deny, maxStale: 1m}\n",
		"unmapped resource type":  "rules:\n- {resourceType: file, resources: [\"x\"], mode: deny}\n",
		"unmapped action":         "rules:\n- {resourceType: tool, actions: [fly], resources: [\"x\"], mode: deny}\n",
	}
	for name, y := range bad {
		if _, err := eng.ParseFallback([]byte(y)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	good, err := eng.ParseFallback([]byte("rules:\n- {resourceType: tool, resources: [\"github/search_issues\"], mode: allow}\n"))
	if err != nil {
		t.Fatalf("allow on a low-risk tool refused: %v", err)
	}
	if len(good.Warnings()) != 1 {
		t.Errorf("warnings %v, want one for the allow rule", good.Warnings())
	}
}
