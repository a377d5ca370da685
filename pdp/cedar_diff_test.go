package pdp_test

import (
	"slices"
	"testing"

	"github.com/cedar-policy/cedar-go"
	"github.com/cedar-policy/cedar-go/types"

	"github.com/agentguard/agentguard/pdp"
)

// TestEngineMatchesCedarGo: the engine (scope index, interned strings,
// policy bodies rewritten onto them) decides as cedar-go itself does on the
// bundle's own data, parsed afresh and shared with nothing: same decision,
// same determining policies, same policies failing to evaluate.
func TestEngineMatchesCedarGo(t *testing.T) {
	t.Parallel()
	const bundles, requests = 30, 300
	compared := 0
	for seed := range uint64(bundles) {
		g := newGen(seed+1000, 40, 60)
		src := g.source(t, 20+int(seed)*5)
		eng, err := pdp.New(src, pdp.Options{})
		if err != nil {
			t.Fatal(err)
		}

		ps := cedar.NewPolicySet()
		list, err := cedar.NewPolicyListFromBytes("gen.cedar", src.Policies[0].Data)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range list {
			ps.Add(cedar.PolicyID(p.Annotations()[pdp.PolicyIDAnnotation]), p)
		}
		var ents types.EntityMap
		if err := ents.UnmarshalJSON(src.Entities.Data); err != nil {
			t.Fatal(err)
		}
		for _, a := range append(slices.Clone(genActions), genGroup) { // from the schema
			uid := types.NewEntityUID("Action", types.String(a))
			if e, ok := eng.Entity(uid); ok {
				ents[uid] = e
			}
		}

		for i := range requests {
			req := g.request()
			got := eng.Authorize(req)
			dec, diag := cedar.Authorize(ps, ents, req)
			var reasons, errs []string
			for _, r := range diag.Reasons {
				reasons = append(reasons, string(r.PolicyID))
			}
			for _, e := range diag.Errors {
				errs = append(errs, string(e.PolicyID))
			}
			var gotErrs []string
			for _, e := range got.Errors {
				gotErrs = append(gotErrs, e.PolicyID)
			}
			slices.Sort(reasons)
			slices.Sort(errs)
			if got.Allowed != (dec == cedar.Allow) || !slices.Equal(got.Reasons, reasons) || !slices.Equal(gotErrs, errs) {
				t.Fatalf("seed %d request %d %v:\n engine  allowed=%v reasons=%v errors=%v\n cedar-go allowed=%v reasons=%v errors=%v",
					seed, i, req, got.Allowed, got.Reasons, gotErrs, dec == cedar.Allow, reasons, errs)
			}
			compared++
		}
	}
	t.Logf("%d decisions compared with cedar-go", compared)
}
