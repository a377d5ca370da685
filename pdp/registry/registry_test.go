package registry

import (
	"strings"
	"testing"

	"github.com/cedar-policy/cedar-go"
	"github.com/cedar-policy/cedar-go/types"
	"k8s.io/client-go/kubernetes/fake"
)

func newTestRegistry(t *testing.T, opts Options) *Registry {
	t.Helper()
	opts.Client = fake.NewClientset()
	r, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	if _, err := New(Options{}); err == nil {
		t.Error("no client: want error")
	}
	if _, err := New(Options{Client: fake.NewClientset(), Schema: []byte("entity Tenant;")}); err == nil {
		t.Error("schema without Agent: want error")
	}
}

// TestRegistryUpdates drives the registry's state directly, without
// informers (the envtest covers those).
func TestRegistryUpdates(t *testing.T) {
	t.Parallel()
	r := newTestRegistry(t, Options{Schema: defaultSchema(t)})
	uid := AgentUID("acme-agents", "triage")
	ns := namespace("acme-agents", "acme")
	triage := sa("acme-agents", "triage", nil, map[string]string{AnnotationAllowedTools: "github/search_issues"})

	ch := r.Changed()
	r.update("acme-agents", "triage", triage, ns)
	assertClosed(t, ch, true)
	if e, ok := r.Get(uid); !ok || !e.Parents.Contains(tenant("acme")) {
		t.Fatalf("Get = %v, %v", e, ok)
	}
	if r.Revision() != 1 || r.Len() != 1 {
		t.Errorf("Revision %d, Len %d", r.Revision(), r.Len())
	}

	// The same state again is not a change.
	ch = r.Changed()
	r.update("acme-agents", "triage", triage.DeepCopy(), ns)
	assertClosed(t, ch, false)

	// A change that the default schema drops (the owner) is not a change
	// either; one it keeps is.
	withOwner := triage.DeepCopy()
	withOwner.Annotations[AnnotationOwner] = "alice"
	r.update("acme-agents", "triage", withOwner, ns)
	assertClosed(t, ch, false)
	withOwner.Annotations[KeyMode] = ModeUserDelegated
	r.update("acme-agents", "triage", withOwner, ns)
	assertClosed(t, ch, true)
	if e, _ := r.Get(uid); !hasAttr(e, "mode", types.String(ModeUserDelegated)) {
		t.Errorf("mode not updated: %v", e)
	}

	// A new schema refits every entity.
	ch = r.Changed()
	if err := r.SetSchema(readSchema(t, "testdata", "extended.cedarschema")); err != nil {
		t.Fatal(err)
	}
	assertClosed(t, ch, true)
	if e, _ := r.Get(uid); !hasAttr(e, "owner", types.String("alice")) {
		t.Errorf("owner not served under the extended schema: %v", e)
	}
	if err := r.SetSchema([]byte("not a schema")); err == nil {
		t.Error("SetSchema accepted garbage")
	}
	if e, _ := r.Get(uid); !hasAttr(e, "owner", types.String("alice")) {
		t.Error("a bad schema replaced the good one")
	}
	// A schema the registry cannot satisfy takes the agent out, with a reason.
	if err := r.SetSchema(readSchema(t, "testdata", "needs-team.cedarschema")); err != nil {
		t.Fatal(err)
	}
	if _, ok := r.Get(uid); ok {
		t.Error("non-conforming agent served")
	}
	if p := r.Problems()["acme-agents/triage"]; !strings.Contains(p, "schema") {
		t.Errorf("Problems = %v", r.Problems())
	}
	if err := r.SetSchema(nil); err != nil {
		t.Fatal(err)
	}
	if _, ok := r.Get(uid); !ok || len(r.Problems()) != 0 {
		t.Errorf("after removing the schema: served %v, problems %v", ok, r.Problems())
	}

	// A bad annotation takes the agent out until it is fixed.
	bad := withOwner.DeepCopy()
	bad.Annotations[KeyMode] = "root"
	ch = r.Changed()
	r.update("acme-agents", "triage", bad, ns)
	assertClosed(t, ch, true)
	if _, ok := r.Get(uid); ok || r.Problems()["acme-agents/triage"] == "" {
		t.Errorf("bad mode: served %v, problems %v", ok, r.Problems())
	}

	// Deleted.
	r.update("acme-agents", "triage", withOwner, ns)
	ch = r.Changed()
	r.update("acme-agents", "triage", nil, nil)
	assertClosed(t, ch, true)
	if _, ok := r.Get(uid); ok || r.Len() != 0 || len(r.Problems()) != 0 {
		t.Errorf("after delete: Len %d, problems %v", r.Len(), r.Problems())
	}
}

// TestRegistryAuthorizes uses the registry as cedar-go's EntityGetter.
func TestRegistryAuthorizes(t *testing.T) {
	t.Parallel()
	r := newTestRegistry(t, Options{Schema: defaultSchema(t)})
	r.update("acme-agents", "triage", sa("acme-agents", "triage", nil, map[string]string{AnnotationAllowedTools: "github/search_issues"}), namespace("acme-agents", "acme"))
	r.update("globex-agents", "sales", sa("globex-agents", "sales", nil, map[string]string{AnnotationAllowedTools: "github/search_issues"}), namespace("globex-agents", "globex"))
	ps, err := cedar.NewPolicySetFromBytes("test.cedar", []byte(`
permit (principal in Tenant::"acme", action == Action::"call_tool", resource)
when { principal.mode == "autonomous" && principal.allowedTools.contains(resource) };`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		principal types.EntityUID
		tool      string
		want      types.Decision
	}{
		{AgentUID("acme-agents", "triage"), "github/search_issues", types.Allow},
		{AgentUID("acme-agents", "triage"), "payments/refund", types.Deny},
		{AgentUID("globex-agents", "sales"), "github/search_issues", types.Deny}, // other tenant
		{AgentUID("acme-agents", "unknown"), "github/search_issues", types.Deny}, // not registered
	} {
		got, _ := cedar.Authorize(ps, r, cedar.Request{
			Principal: tt.principal, Action: types.NewEntityUID("Action", "call_tool"), Resource: tool(tt.tool), Context: types.NewRecord(nil),
		})
		if got != tt.want {
			t.Errorf("%s calling %s: %v, want %v", tt.principal, tt.tool, got, tt.want)
		}
	}
}

func hasAttr(e types.Entity, name string, want types.Value) bool {
	v, ok := e.Attributes.Get(types.String(name))
	return ok && v.Equal(want)
}

func assertClosed(t *testing.T, ch <-chan struct{}, want bool) {
	t.Helper()
	select {
	case <-ch:
		if !want {
			t.Error("Changed fired without a change")
		}
	default:
		if want {
			t.Error("Changed did not fire")
		}
	}
}
