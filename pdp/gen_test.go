package pdp_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/cedar-policy/cedar-go/types"

	"github.com/agentguard/agentguard/pdp"
)

// genBundle makes a random bundle over testdata/diff.cedarschema: nUsers
// users in a group DAG, docs in a folder tree, and nPolicies policies whose
// scopes use every form the index knows (==, in, is, is-in, action in set,
// unconstrained) and whose conditions sometimes fail to evaluate.
type genBundle struct {
	rng                       *rand.Rand
	nGroups, nUsers, nFolders int
	nDocs                     int
}

// genActions are the schema's actions (testdata/diff.cedarschema); genGroup
// is the action group they belong to.
var (
	genActions = []string{"read", "write", "share"}
	genGroup   = "manage"
)

func newGen(seed uint64, nUsers, nDocs int) *genBundle {
	return &genBundle{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), nGroups: 8, nUsers: nUsers, nFolders: 8, nDocs: nDocs}
}

func (g *genBundle) pick(n int) int { return g.rng.IntN(n) }

func (g *genBundle) source(t testing.TB, nPolicies int) pdp.Source {
	t.Helper()
	schema, err := os.ReadFile("testdata/diff.cedarschema")
	if err != nil {
		t.Fatal(err)
	}
	return pdp.Source{
		Schema:   pdp.File{Name: "diff.cedarschema", Data: schema},
		Policies: []pdp.File{{Name: "gen.cedar", Data: []byte(g.policies(nPolicies))}},
		Entities: &pdp.File{Name: "entities.json", Data: g.entities(t)},
		Revision: "gen",
	}
}

func ref(typ string, id string) map[string]any {
	return map[string]any{"type": typ, "id": id}
}

func (g *genBundle) entities(t testing.TB) []byte {
	var ents []map[string]any
	for i := range g.nGroups {
		var parents []any
		if i > 0 && g.pick(2) == 0 {
			parents = append(parents, ref("Group", fmt.Sprint("g", g.pick(i))))
		}
		ents = append(ents, map[string]any{"uid": ref("Group", fmt.Sprint("g", i)), "attrs": map[string]any{}, "parents": nonNil(parents)})
	}
	for i := range g.nUsers {
		parents := []any{ref("Group", fmt.Sprint("g", g.pick(g.nGroups)))}
		ents = append(ents, map[string]any{"uid": ref("User", fmt.Sprint("u", i)), "attrs": map[string]any{"level": g.pick(5)}, "parents": parents})
	}
	for i := range g.nFolders {
		var parents []any
		if i > 0 {
			parents = append(parents, ref("Folder", fmt.Sprint("f", g.pick(i))))
		}
		ents = append(ents, map[string]any{"uid": ref("Folder", fmt.Sprint("f", i)), "attrs": map[string]any{}, "parents": nonNil(parents)})
	}
	for i := range g.nDocs {
		ents = append(ents, map[string]any{
			"uid":     ref("Doc", fmt.Sprint("d", i)),
			"attrs":   map[string]any{"owner": map[string]any{"__entity": ref("User", fmt.Sprint("u", g.pick(g.nUsers)))}, "level": g.pick(5)},
			"parents": []any{ref("Folder", fmt.Sprint("f", g.pick(g.nFolders)))},
		})
	}
	b, err := json.Marshal(ents)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func nonNil(s []any) []any {
	if s == nil {
		return []any{}
	}
	return s
}

func (g *genBundle) policies(n int) string {
	var b strings.Builder
	for i := range n {
		effect := "permit"
		if g.pick(4) == 0 {
			effect = "forbid"
		}
		fmt.Fprintf(&b, "@id(\"p%d\")\n%s (\n  %s,\n  %s,\n  %s\n)%s;\n\n", i, effect, g.principalScope(), g.actionScope(), g.resourceScope(), g.condition())
	}
	return b.String()
}

func (g *genBundle) principalScope() string {
	switch g.pick(6) {
	case 0:
		return "principal"
	case 1, 2:
		return fmt.Sprintf("principal == User::\"u%d\"", g.pick(g.nUsers))
	case 3:
		return fmt.Sprintf("principal in Group::\"g%d\"", g.pick(g.nGroups))
	case 4:
		return "principal is User"
	default:
		return fmt.Sprintf("principal is User in Group::\"g%d\"", g.pick(g.nGroups))
	}
}

func (g *genBundle) actionScope() string {
	acts := genActions
	switch g.pick(5) {
	case 0:
		return "action"
	case 1, 2:
		return fmt.Sprintf("action == Action::\"%s\"", acts[g.pick(3)])
	case 3:
		return fmt.Sprintf("action in Action::\"%s\"", genGroup)
	default:
		return fmt.Sprintf("action in [Action::\"%s\", Action::\"%s\"]", acts[g.pick(3)], acts[g.pick(3)])
	}
}

func (g *genBundle) resourceScope() string {
	switch g.pick(6) {
	case 0:
		return "resource"
	case 1, 2:
		return fmt.Sprintf("resource == Doc::\"d%d\"", g.pick(g.nDocs))
	case 3:
		return fmt.Sprintf("resource in Folder::\"f%d\"", g.pick(g.nFolders))
	case 4:
		return "resource is Doc"
	default:
		return fmt.Sprintf("resource is Doc in Folder::\"f%d\"", g.pick(g.nFolders))
	}
}

// condition sometimes reads attributes, which errors for entities missing
// from the store (unknown request principals and resources).
func (g *genBundle) condition() string {
	switch g.pick(4) {
	case 0:
		return fmt.Sprintf("\nwhen { principal.level >= %d }", g.pick(5))
	case 1:
		return "\nwhen { resource is Doc && resource.owner == principal }"
	default:
		return ""
	}
}

// request returns a random request; one in ten names an unknown principal
// or resource.
func (g *genBundle) request() types.Request {
	p := fmt.Sprint("u", g.pick(g.nUsers))
	if g.pick(10) == 0 {
		p = "stranger"
	}
	acts := genActions
	var r types.EntityUID
	switch g.pick(5) {
	case 0:
		r = types.NewEntityUID("Folder", types.String(fmt.Sprint("f", g.pick(g.nFolders))))
	case 1:
		r = types.NewEntityUID("Doc", "missing")
	default:
		r = types.NewEntityUID("Doc", types.String(fmt.Sprint("d", g.pick(g.nDocs))))
	}
	return types.Request{
		Principal: types.NewEntityUID("User", types.String(p)),
		Action:    types.NewEntityUID("Action", types.String(acts[g.pick(3)])),
		Resource:  r,
		Context:   types.NewRecord(types.RecordMap{"now": types.NewDatetimeFromMillis(0)}),
	}
}
