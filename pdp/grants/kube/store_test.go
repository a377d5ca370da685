package kube

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/rest"

	"github.com/agentguard/agentguard/pdp/grants"
	"github.com/agentguard/agentguard/pdp/grants/storetest"
)

func TestStoreContract(t *testing.T) {
	cfg := cluster(t)
	storetest.Run(t, func(t *testing.T) grants.Store {
		return newStore(t, cfg, namespace(t, cfg))
	})
}

// fullRequest sets every field, with nanoseconds, zone offsets and
// properties whose JSON text is not canonical.
func fullRequest(id string) *grants.Request {
	at := time.Date(2026, 11, 27, 10, 0, 0, 123456789, time.FixedZone("CET", 3600))
	r := storetest.NewRequest(id, "acme-agents/triage", at)
	r.Subject.Properties = json.RawMessage(`{"b": 1, "a": [1.50, "x"]}`)
	r.Action.Properties = json.RawMessage(`{ "k":true }`)
	r.Resource.Properties = json.RawMessage(`{"n":12345678901234567890}`)
	r.OnBehalfOf = `User::"alice"`
	r.Task = "ticket-9"
	r.Justification = "refund for order 42 — urgent"
	r.ApproverGroup = "payments-leads"
	r.EvaluationID = "ev-1"
	r.RequestedUntil = at.Add(time.Hour + time.Nanosecond)
	r.CreatedAt = at
	r.ExpiresAt = at.Add(24 * time.Hour)
	r.Status = grants.StatusApproved
	r.ApprovalID = "apr-1"
	r.ApprovedBy = `User::"bob"`
	r.ApprovedAt = at.Add(time.Minute + 7)
	r.ApprovedUntil = at.Add(time.Hour)
	r.IdempotencyKey = "idem-1"
	r.BodyHash = "sha256:abc"
	r.Events = append(r.Events, grants.Event{Type: "approved", Actor: `User::"bob"`, At: r.ApprovedAt, Reason: "ok"})
	return r
}

// exactTimes compares times including their zone offset, not just the
// instant, and raw JSON byte for byte.
var exactTimes = cmp.Comparer(func(a, b time.Time) bool {
	_, ao := a.Zone()
	_, bo := b.Zone()
	return a.Equal(b) && ao == bo
})

func TestRoundTripExact(t *testing.T) {
	cfg := cluster(t)
	s := newStore(t, cfg, namespace(t, cfg))
	ctx := context.Background()
	want := fullRequest("arq-full")
	if err := s.Create(ctx, want); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, want.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got, exactTimes); diff != "" {
		t.Errorf("round trip through the apiserver (-want +got):\n%s", diff)
	}
}

func TestIDsThatAreNotNames(t *testing.T) {
	cfg := cluster(t)
	ns := namespace(t, cfg)
	s := newStore(t, cfg, ns)
	ctx := context.Background()
	base := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	ids := []string{"ARQ-Upper", "arq/with/slashes", "arq.dotted", "sha256.0000", "ARQ-" + strings.Repeat("Long", 50)}
	for i, id := range ids {
		if err := s.Create(ctx, storetest.NewRequest(id, "ns/sa", base.Add(time.Duration(i)*time.Second))); err != nil {
			t.Fatalf("create %q: %v", id, err)
		}
	}
	for _, id := range ids {
		got, err := s.Get(ctx, id)
		if err != nil || got.ID != id {
			t.Errorf("get %q = %v, %v", id, got, err)
		}
	}
	all, err := s.List(ctx, grants.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, r := range all {
		listed = append(listed, r.ID)
	}
	if diff := cmp.Diff(ids, listed); diff != "" {
		t.Errorf("list (-want +got):\n%s", diff)
	}
}

func TestReadsCheckStoredFields(t *testing.T) {
	cfg := cluster(t)
	ns := namespace(t, cfg)
	s := newStore(t, cfg, ns)
	ctx := context.Background()
	base := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

	// An object whose labels claim another principal and idempotency key
	// than its fields (a forged or hand-edited label) is not returned.
	r := storetest.NewRequest("arq-forged", "ns/real", base)
	r.IdempotencyKey = "k"
	o := toObject(r, ns)
	o.Labels[labelPrincipal] = principalLabel(`Agent::"ns/victim"`)
	o.Labels[labelIdempotency] = idempotencyLabel(`Agent::"ns/victim"`, "k")
	if err := s.client.Create(ctx, o); err != nil {
		t.Fatal(err)
	}
	if got, err := s.List(ctx, grants.Filter{Principal: `Agent::"ns/victim"`}); err != nil || len(got) != 0 {
		t.Errorf("list by forged principal label = %v, %v; want nothing", got, err)
	}
	if _, err := s.FindIdempotent(ctx, `Agent::"ns/victim"`, "k"); !errors.Is(err, grants.ErrNotFound) {
		t.Errorf("find by forged idempotency label: %v, want ErrNotFound", err)
	}

	// An object named after one id but holding another is not that id.
	o = toObject(storetest.NewRequest("arq-inside", "ns/real", base), ns)
	o.Name = "arq-outside"
	if err := s.client.Create(ctx, o); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "arq-outside"); !errors.Is(err, grants.ErrNotFound) {
		t.Errorf("get of an object holding another id: %v, want ErrNotFound", err)
	}
}

func TestUpdateWithoutVersion(t *testing.T) {
	cfg := cluster(t)
	s := newStore(t, cfg, namespace(t, cfg))
	ctx := context.Background()
	r := storetest.NewRequest("arq-nov", "ns/sa", time.Now())
	if err := s.Create(ctx, r); err != nil {
		t.Fatal(err)
	}
	r.Version = ""
	r.Status = grants.StatusApproved
	if err := s.Update(ctx, r); !errors.Is(err, grants.ErrConflict) {
		t.Errorf("update without version: %v, want ErrConflict", err)
	}
	r.ID = "arq-gone"
	if err := s.Update(ctx, r); !errors.Is(err, grants.ErrNotFound) {
		t.Errorf("update of unknown without version: %v, want ErrNotFound", err)
	}
}

func TestInvalidRequestIsNotAnOutage(t *testing.T) {
	cfg := cluster(t)
	s := newStore(t, cfg, namespace(t, cfg))
	r := storetest.NewRequest("arq-bad", "ns/sa", time.Now())
	r.Status = "granted-by-magic"
	err := s.Create(context.Background(), r)
	if err == nil || errors.Is(err, grants.ErrUnavailable) {
		t.Errorf("create with an unknown status: %v, want a validation error", err)
	}
}

// Replica B sees, through its own client and watch, a grant approved
// through replica A, and a deleted AgentGrant as revoked.
func TestReplicaSeesApprovalThroughAnother(t *testing.T) {
	cfg := cluster(t)
	ns := namespace(t, cfg)
	a, b := newStore(t, cfg, ns), newStore(t, cfg, ns)
	ctx := context.Background()
	seen := watchInto(t, b)

	r := storetest.NewRequest("arq-repl", "acme-agents/triage", time.Now())
	if err := a.Create(ctx, r); err != nil {
		t.Fatal(err)
	}
	waitFor(t, seen, "pending request", func(g *grants.Request) bool { return g.ID == r.ID && g.Status == grants.StatusPending })

	now := time.Now().UTC()
	r.Status, r.ApprovedBy, r.ApprovedAt, r.ApprovedUntil = grants.StatusApproved, `User::"alice"`, now, now.Add(time.Hour)
	r.Events = append(r.Events, grants.Event{Type: "approved", Actor: `User::"alice"`, At: now})
	if err := a.Update(ctx, r); err != nil {
		t.Fatal(err)
	}
	got := waitFor(t, seen, "approval", func(g *grants.Request) bool { return g.ID == r.ID && g.Status == grants.StatusApproved })
	if diff := cmp.Diff(r, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("B's view of A's approval (-want +got):\n%s", diff)
	}
	if !got.Active(now) {
		t.Error("approved grant not active on replica B")
	}

	if err := a.client.Delete(ctx, toObject(r, ns)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, seen, "deletion as revocation", func(g *grants.Request) bool { return g.ID == r.ID && g.Status == grants.StatusRevoked })
}

// A request written before the watch started arrives first, as it is.
func TestWatchStartsWithStoredRequests(t *testing.T) {
	cfg := cluster(t)
	s := newStore(t, cfg, namespace(t, cfg))
	want := fullRequest("arq-stored")
	if err := s.Create(context.Background(), want); err != nil {
		t.Fatal(err)
	}
	got := waitFor(t, watchInto(t, s), "stored request", func(g *grants.Request) bool { return g.ID == want.ID })
	if diff := cmp.Diff(want, got, exactTimes); diff != "" {
		t.Errorf("watched request (-want +got):\n%s", diff)
	}
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	for name, o := range map[string]Options{
		"no config":     {Namespace: "ns"},
		"no namespace":  {Config: &rest.Config{Host: "https://127.0.0.1:1"}},
		"bad namespace": {Config: &rest.Config{Host: "https://127.0.0.1:1"}, Namespace: "Agent Guard"},
	} {
		if _, err := New(o); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
}

// The CRD refuses to change the id an object holds.
func TestIDIsImmutable(t *testing.T) {
	cfg := cluster(t)
	ns := namespace(t, cfg)
	s := newStore(t, cfg, ns)
	ctx := context.Background()
	r := storetest.NewRequest("arq-fixed", "ns/sa", time.Now())
	if err := s.Create(ctx, r); err != nil {
		t.Fatal(err)
	}
	o := toObject(r, ns)
	o.Spec.ID = "arq-other"
	if err := s.client.Update(ctx, o); !apierrors.IsInvalid(err) {
		t.Errorf("changing spec.id: %v, want Invalid", err)
	}
}
