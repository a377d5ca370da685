package pdp

import (
	"testing"
	"unsafe"

	"github.com/cedar-policy/cedar-go"
	"github.com/cedar-policy/cedar-go/types"
	xast "github.com/cedar-policy/cedar-go/x/exp/ast"
)

// TestInternKeepsValues: an interned entity equals the original in every
// part (uid, parents, attributes and tags, nested sets and records), and
// equal strings across entities end up sharing memory.
func TestInternKeepsValues(t *testing.T) {
	// Fresh strings for each entity, as a JSON decoder makes them.
	fresh := func(s string) string { return string([]byte(s)) }
	tenant := func() types.EntityUID {
		return types.NewEntityUID(types.EntityType(fresh("Tenant")), types.String(fresh("acme")))
	}
	agent := types.Entity{
		UID:     types.NewEntityUID(types.EntityType(fresh("Agent")), types.String(fresh("acme/bot"))),
		Parents: types.NewEntityUIDSet(tenant()),
		Attributes: types.NewRecord(types.RecordMap{
			types.String(fresh("tenant")): tenant(),
			"mode":                        types.String(fresh("autonomous")),
			"allowedTools":                types.NewSet(types.NewEntityUID("Tool", types.String(fresh("gh/search"))), types.NewEntityUID("Tool", "gh/issue")),
			"limits":                      types.NewRecord(types.RecordMap{"calls": types.Long(10), "region": types.String(fresh("eu"))}),
			"active":                      types.True,
		}),
		Tags: types.NewRecord(types.RecordMap{"team": types.String(fresh("search"))}),
	}
	tool := types.Entity{
		UID:        types.NewEntityUID(types.EntityType(fresh("Tool")), types.String(fresh("gh/search"))),
		Attributes: types.NewRecord(types.RecordMap{types.String(fresh("tenant")): tenant()}),
	}
	in := interner{}
	m := in.entities(types.EntityMap{agent.UID: agent, tool.UID: tool})
	for _, want := range []types.Entity{agent, tool} {
		got, ok := m[want.UID]
		if !ok {
			t.Fatalf("%s missing after interning", want.UID)
		}
		gj, _ := got.MarshalJSON()
		wj, _ := want.MarshalJSON()
		if string(gj) != string(wj) || !got.Attributes.Equal(want.Attributes) || !got.Tags.Equal(want.Tags) || !got.Parents.Equal(want.Parents) {
			t.Errorf("interned %s differs:\n got %s\nwant %s", want.UID, gj, wj)
		}
	}
	at, _ := m[agent.UID].Attributes.Get("tenant")
	tt, _ := m[tool.UID].Attributes.Get("tenant")
	a, b := at.(types.EntityUID), tt.(types.EntityUID)
	if unsafe.StringData(string(a.ID)) != unsafe.StringData(string(b.ID)) || unsafe.StringData(string(a.Type)) != unsafe.StringData(string(b.Type)) {
		t.Error("the two entities' tenant references do not share their strings")
	}
	tools, _ := m[agent.UID].Attributes.Get("allowedTools")
	for v := range tools.(types.Set).All() {
		if u := v.(types.EntityUID); u.ID == "gh/search" && unsafe.StringData(string(u.ID)) != unsafe.StringData(string(m[tool.UID].UID.ID)) {
			t.Error("the allowlist's reference to the tool does not share the tool's id")
		}
	}
}

// TestInternMapping: the entity types requests are mapped to are the
// bundle's own strings, so a request's principal type is the entities'.
func TestInternMapping(t *testing.T) {
	in := interner{}
	ent := in.entity(types.Entity{UID: types.NewEntityUID(types.EntityType(string([]byte("Agent"))), "a")})
	m := &Mapping{SubjectTypes: map[string]types.EntityType{"agent": types.EntityType(string([]byte("Agent")))}, ResourceTypes: map[string]types.EntityType{}}
	in.mapping(m)
	if unsafe.StringData(string(m.SubjectTypes["agent"])) != unsafe.StringData(string(ent.UID.Type)) {
		t.Error("mapped subject type is not the entities' string")
	}
}

// TestInternConditionsKeepPolicies: rewriting a policy's conditions to
// interned strings keeps every node kind as it was (the Cedar text of the
// policy is unchanged), and the attribute names become the entities'
// strings.
func TestInternConditionsKeepPolicies(t *testing.T) {
	const src = `@id("every-node")
permit (principal is Agent in Tenant::"acme", action == Action::"call_tool", resource)
when {
  resource.tenant == principal.tenant && principal.mode != "pep" &&
  (principal.allowedTools.contains(resource) || principal.allowedTools.containsAll([resource]) || principal.allowedTools.containsAny([resource])) &&
  !(principal.allowedTools.isEmpty()) && resource has sensitivity && principal in Tenant::"acme" &&
  principal is Agent && resource is Tool in Tenant::"acme" && principal.hasTag("team") && principal.getTag("team") like "se*" &&
  (if context.request has user then context.request.user == "alice" else false) &&
  {"a": 1, "b": [2, -3]}.a < 2 && 1 <= 2 && 3 > 2 && 3 >= 3 && 1 + 2 - 3 * 4 == -9 &&
  ip("10.0.0.1").isInRange(ip("10.0.0.0/8")) && decimal("1.5").lessThan(decimal("2.0"))
}
unless { context.now > datetime("2100-01-01T00:00:00Z") };`
	list, err := cedar.NewPolicyListFromBytes("every-node.cedar", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	p := list[0]
	in := interner{}
	entityName := in.str(string([]byte("tenant")))
	orig := bodyOnly(p, nil)
	interned := bodyOnly(p, in)
	if got, want := string(interned.MarshalCedar()), string(orig.MarshalCedar()); got != want {
		t.Fatalf("interning changed the policy:\n got %s\nwant %s", got, want)
	}
	found := false
	for _, c := range (*xast.Policy)(interned.AST()).Conditions {
		if and, ok := c.Body.(xast.NodeTypeAnd); ok {
			xast.Inspect(xast.NewNode(and), func(n xast.IsNode) bool {
				if a, ok := n.(xast.NodeTypeAccess); ok && a.Value == "tenant" {
					found = true
					if unsafe.StringData(string(a.Value)) != unsafe.StringData(entityName) {
						t.Error("the policy's attribute name is not the interned string")
					}
				}
				return true
			})
		}
	}
	if !found {
		t.Fatal("no .tenant access found in the rewritten policy")
	}
}
