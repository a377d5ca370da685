package pdp_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/cedar-policy/cedar-go/types"

	"github.com/agentguard/agentguard/pdp"
)

// benchSource is a bundle shaped like a real one at scale: a few general
// policies plus per-principal grants (principal == X, resource == Y), the
// shape JIT grants and per-agent allowlists take.
func benchSource(b *testing.B, nPolicies int) (pdp.Source, *genBundle) {
	b.Helper()
	nUsers := max(10, nPolicies/10)
	g := newGen(1, nUsers, max(10, nPolicies/10))
	src := g.source(b, 0)
	var sb strings.Builder
	general := []string{
		`forbid (principal in Group::"g0", action == Action::"write", resource in Folder::"f0");`,
		`permit (principal, action == Action::"read", resource is Doc) when { resource.owner == principal };`,
		`permit (principal is User in Group::"g1", action in Action::"manage", resource is Doc in Folder::"f1");`,
		`forbid (principal, action == Action::"share", resource is Doc) when { resource.level > principal.level };`,
		`permit (principal, action, resource) when { principal.level >= 4 };`,
	}
	for i := range nPolicies {
		if i < len(general) {
			fmt.Fprintf(&sb, "@id(\"general-%d\")\n%s\n", i, general[i])
			continue
		}
		fmt.Fprintf(&sb, "@id(\"grant-%d\")\npermit (principal == User::\"u%d\", action == Action::\"%s\", resource == Doc::\"d%d\");\n",
			i, g.pick(g.nUsers), []string{"read", "write", "share"}[g.pick(3)], g.pick(g.nDocs))
	}
	src.Policies = []pdp.File{{Name: "bench.cedar", Data: []byte(sb.String())}}
	return src, g
}

// BenchmarkAuthorize measures one decision at several bundle sizes, with the
// scope index and without it (plain cedar-go evaluates every policy).
func BenchmarkAuthorize(b *testing.B) {
	for _, n := range []int{10, 1_000, 10_000, 100_000} {
		src, g := benchSource(b, n)
		reqs := make([]types.Request, 256)
		for i := range reqs {
			reqs[i] = g.request()
		}
		for _, mode := range []struct {
			name string
			opts pdp.Options
		}{{"indexed", pdp.Options{}}, {"plain", pdp.Options{DisableIndex: true}}} {
			if mode.name == "plain" && n > 10_000 && testing.Short() {
				continue
			}
			eng, err := pdp.New(src, mode.opts)
			if err != nil {
				b.Fatal(err)
			}
			b.Run(fmt.Sprintf("policies=%d/%s", n, mode.name), func(b *testing.B) {
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					eng.Authorize(reqs[i%len(reqs)])
					i++
				}
			})
		}
	}
}

// BenchmarkEvaluate measures the AuthZEN path (mapping, strict request
// validation, decision) on the default bundle.
func BenchmarkEvaluate(b *testing.B) {
	eng, err := pdp.Load("../policies", pdp.Options{})
	if err != nil {
		b.Fatal(err)
	}
	req := &pdp.Request{
		Subject:  pdp.Entity{Type: "agent", ID: "acme-agents/assistant"},
		Action:   pdp.Action{Name: "call_tool"},
		Resource: pdp.Entity{Type: "tool", ID: "github/search_issues"},
		Context:  []byte(`{"user":"alice@acme.example","session":"s-1"}`),
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := eng.Evaluate(req); err != nil {
			b.Fatal(err)
		}
	}
}
