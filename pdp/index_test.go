package pdp_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/cedar-policy/cedar-go/types"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/agentguard/agentguard/pdp"
)

// sameDecision compares decisions but for their ids.
var sameDecision = cmp.Options{cmpopts.IgnoreFields(pdp.Decision{}, "ID"), cmpopts.IgnoreUnexported(pdp.Decision{}), cmpopts.EquateEmpty()}

// enginePair loads src twice with opts: with the scope index and without.
func enginePair(t *testing.T, src pdp.Source, opts pdp.Options) (indexed, plain *pdp.Engine) {
	t.Helper()
	indexed, err := pdp.New(src, opts)
	if err != nil {
		t.Fatal(err)
	}
	opts.DisableIndex = true
	if plain, err = pdp.New(src, opts); err != nil {
		t.Fatal(err)
	}
	return indexed, plain
}

// TestIndexDifferential proves the scope index changes nothing: over many
// generated bundles and requests, decisions, determining policy ids and
// evaluation errors are identical with and without it.
func TestIndexDifferential(t *testing.T) {
	t.Parallel()
	const bundles, requests = 60, 400
	var allowed, denied, withErrors, withReasons int
	for seed := range uint64(bundles) {
		g := newGen(seed, 40, 60)
		src := g.source(t, 20+int(seed)*5)
		// Grants (exact principal/action/resource permits with an expiry)
		// take part too: some live, some expired.
		grants := pdp.NewGrants()
		for i := range 10 {
			req := g.request()
			until := time.UnixMilli(int64(g.pick(3)-1) * 1000)
			grants.Put(pdp.Grant{ID: fmt.Sprint(i), Principal: req.Principal, Action: req.Action, Resource: req.Resource, Until: until})
		}
		indexed, plain := enginePair(t, src, pdp.Options{Grants: grants})
		for i := range requests {
			req := g.request()
			want := plain.Authorize(req)
			got := indexed.Authorize(req)
			if diff := cmp.Diff(want, got, sameDecision); diff != "" {
				t.Fatalf("seed %d request %d %v: indexed decision differs (-plain +indexed):\n%s", seed, i, req, diff)
			}
			if want.Allowed {
				allowed++
			} else {
				denied++
			}
			if len(want.Errors) > 0 {
				withErrors++
			}
			if len(want.Reasons) > 0 {
				withReasons++
			}
		}
	}
	// The generator must exercise every outcome, or the test proves little.
	if allowed == 0 || denied == 0 || withErrors == 0 || withReasons == 0 {
		t.Fatalf("generator too narrow: allowed=%d denied=%d withErrors=%d withReasons=%d", allowed, denied, withErrors, withReasons)
	}
	t.Logf("%d decisions compared: %d allowed, %d denied, %d with evaluation errors", allowed+denied, allowed, denied, withErrors)
}

// TestIndexDifferentialDynamicEntities covers principals that are not in
// the bundle but come from Options.Entities (the agent registry), whose
// group membership the index must walk at request time.
func TestIndexDifferentialDynamicEntities(t *testing.T) {
	t.Parallel()
	var allowed int
	for seed := range uint64(20) {
		g := newGen(seed, 40, 60)
		src := g.source(t, 60)
		dyn := types.EntityMap{}
		for i := range 20 {
			uid := types.NewEntityUID("User", types.String(fmt.Sprint("dyn", i)))
			parents := types.NewEntityUIDSet(types.NewEntityUID("Group", types.String(fmt.Sprint("g", g.pick(8)))))
			dyn[uid] = types.Entity{UID: uid, Parents: parents, Attributes: types.NewRecord(types.RecordMap{"level": types.Long(g.pick(5))})}
		}
		indexed, plain := enginePair(t, src, pdp.Options{Entities: dyn})
		for i := range 300 {
			req := g.request()
			req.Principal = types.NewEntityUID("User", types.String(fmt.Sprint("dyn", g.pick(20))))
			want, got := plain.Authorize(req), indexed.Authorize(req)
			if diff := cmp.Diff(want, got, sameDecision); diff != "" {
				t.Fatalf("seed %d request %d: (-plain +indexed):\n%s", seed, i, diff)
			}
			if want.Allowed {
				allowed++
			}
		}
	}
	if allowed == 0 {
		t.Fatal("no request allowed: the test proves little")
	}
}

// TestIndexDifferentialRequestPrincipal covers a principal entity that the
// caller supplies with the request (EvaluateAs/Decide: an approver's user
// entity with the groups its token carries), whose ancestors the index
// must walk, in the scope match too.
func TestIndexDifferentialRequestPrincipal(t *testing.T) {
	t.Parallel()
	var decided, allowed int
	for seed := range uint64(20) {
		g := newGen(seed, 40, 60)
		src := g.source(t, 60)
		indexed, plain := enginePair(t, src, pdp.Options{})
		for i := range 300 {
			req := g.request()
			uid := types.NewEntityUID("User", types.String(fmt.Sprint("tok", g.pick(20))))
			req.Principal = uid
			principal := &types.Entity{UID: uid,
				Parents:    types.NewEntityUIDSet(types.NewEntityUID("Group", types.String(fmt.Sprint("g", g.pick(8))))),
				Attributes: types.NewRecord(types.RecordMap{"level": types.Long(g.pick(5))})}
			want, werr := plain.Decide(req, principal)
			got, gerr := indexed.Decide(req, principal)
			if (werr == nil) != (gerr == nil) {
				t.Fatalf("seed %d request %d: plain error %v, indexed error %v", seed, i, werr, gerr)
			}
			if werr != nil {
				continue
			}
			decided++
			if diff := cmp.Diff(want, got, sameDecision); diff != "" {
				t.Fatalf("seed %d request %d: (-plain +indexed):\n%s", seed, i, diff)
			}
			if want.Allowed {
				allowed++
			}
		}
	}
	if decided == 0 || allowed == 0 {
		t.Fatalf("decided %d, allowed %d: the test proves little", decided, allowed)
	}
	t.Logf("%d decisions compared, %d allowed", decided, allowed)
}
