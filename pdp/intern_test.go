package pdp

import (
	"testing"
	"unsafe"

	"github.com/cedar-policy/cedar-go/types"
)

// TestInternKeepsValues: an interned entity equals the original in every
// part (uid, parents, attributes and tags, nested sets and records), and
// equal strings across entities end up sharing memory.
func TestInternKeepsValues(t *testing.T) {
	// Fresh strings for each entity, as a JSON decoder makes them.
	fresh := func(s string) string { return string([]byte(s)) }
	tenant := func() types.EntityUID { return types.NewEntityUID(types.EntityType(fresh("Tenant")), types.String(fresh("acme"))) }
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
