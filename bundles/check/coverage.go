package check

import (
	"io/fs"
	"path"
	"slices"
	"strings"

	"github.com/cedar-policy/cedar-go"

	"github.com/agentguard/agentguard/bundles"
	"github.com/agentguard/agentguard/pdp"
)

// Coverage says which Cedar policies no passing authorization case has as
// a determining policy (AG-GOV-005: every policy should decide at least
// one test).
type Coverage struct {
	// Policies is the number of policies in the bundle.
	Policies int `json:"policies"`
	// Uncovered are the @ids of policies that determined no passing case,
	// sorted.
	Uncovered []string `json:"uncovered"`
}

// policyIDs lists the @id of every policy in pdp/*.cedar. The bundle
// compiled, so every policy parses and has an id.
func policyIDs(b *bundles.Bundle) []string {
	fsys := b.FS()
	var ids []string
	for _, n := range b.Files() {
		if path.Dir(n) != "pdp" || !strings.HasSuffix(n, ".cedar") {
			continue
		}
		data, err := fs.ReadFile(fsys, n)
		if err != nil {
			continue
		}
		list, err := cedar.NewPolicyListFromBytes(n, data)
		if err != nil {
			continue
		}
		for _, p := range list {
			if id, ok := p.Annotations()[pdp.PolicyIDAnnotation]; ok {
				ids = append(ids, string(id))
			}
		}
	}
	slices.Sort(ids)
	return ids
}

func coverage(b *bundles.Bundle, covered map[string]bool) *Coverage {
	ids := policyIDs(b)
	c := &Coverage{Policies: len(ids), Uncovered: []string{}}
	for _, id := range ids {
		if !covered[id] {
			c.Uncovered = append(c.Uncovered, id)
		}
	}
	return c
}
