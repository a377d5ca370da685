// Package storetest is the contract every grants.Store passes: the bbolt
// file and the AgentGrant custom resources run the same suite.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/agentguard/agentguard/pdp"
	"github.com/agentguard/agentguard/pdp/grants"
)

// NewRequest returns a valid pending request with the given id, for agent
// "<ns>/<sa>".
func NewRequest(id, agent string, created time.Time) *grants.Request {
	return &grants.Request{
		ID:             id,
		Subject:        pdp.Entity{Type: "agent", ID: agent},
		Action:         pdp.Action{Name: "call_tool"},
		Resource:       pdp.Entity{Type: "tool", ID: "payments/refund"},
		Principal:      grants.UID{Type: "Agent", ID: agent},
		CedarAction:    grants.UID{Type: "Action", ID: "call_tool"},
		CedarResource:  grants.UID{Type: "Tool", ID: "payments/refund"},
		Requester:      `Agent::"` + agent + `"`,
		Grantable:      "refunds",
		Approval:       "human",
		RequestedUntil: created.Add(time.Hour).UTC().Truncate(time.Second),
		Status:         grants.StatusPending,
		CreatedAt:      created.UTC().Truncate(time.Second),
		ExpiresAt:      created.Add(24 * time.Hour).UTC().Truncate(time.Second),
		Events:         []grants.Event{{Type: "requested", Actor: `Agent::"` + agent + `"`, At: created.UTC().Truncate(time.Second)}},
	}
}

var ignoreVersion = cmpopts.IgnoreFields(grants.Request{}, "Version")

// Run runs the contract against stores made by newStore (a fresh, empty
// store for each call).
func Run(t *testing.T, newStore func(t *testing.T) grants.Store) {
	ctx := context.Background()
	base := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

	t.Run("create and get", func(t *testing.T) {
		s := newStore(t)
		r := NewRequest("arq-1", "acme-agents/triage", base)
		r.IdempotencyKey, r.BodyHash, r.Task = "k1", "h1", "ticket-9"
		if err := s.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
		if r.Version == "" {
			t.Error("Create did not set Version")
		}
		got, err := s.Get(ctx, "arq-1")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(r, got, ignoreVersion, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("round trip (-want +got):\n%s", diff)
		}
		got.Justification = "mutated copy"
		again, _ := s.Get(ctx, "arq-1")
		if again.Justification != "" {
			t.Error("Get returned shared state, not a copy")
		}
	})

	t.Run("errors", func(t *testing.T) {
		s := newStore(t)
		r := NewRequest("arq-2", "a/b", base)
		if err := s.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
		if err := s.Create(ctx, NewRequest("arq-2", "a/b", base)); !errors.Is(err, grants.ErrExists) {
			t.Errorf("duplicate create: %v, want ErrExists", err)
		}
		if _, err := s.Get(ctx, "nope"); !errors.Is(err, grants.ErrNotFound) {
			t.Errorf("get unknown: %v, want ErrNotFound", err)
		}
		ghost := NewRequest("ghost", "a/b", base)
		ghost.Version = "1"
		if err := s.Update(ctx, ghost); !errors.Is(err, grants.ErrNotFound) {
			t.Errorf("update unknown: %v, want ErrNotFound", err)
		}
		if _, err := s.FindIdempotent(ctx, "x", "y"); !errors.Is(err, grants.ErrNotFound) {
			t.Errorf("find idempotent unknown: %v, want ErrNotFound", err)
		}
	})

	t.Run("update with optimistic concurrency", func(t *testing.T) {
		s := newStore(t)
		r := NewRequest("arq-3", "a/b", base)
		if err := s.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
		stale, _ := s.Get(ctx, "arq-3")
		fresh, _ := s.Get(ctx, "arq-3")
		fresh.Status = grants.StatusApproved
		fresh.ApprovalID = "apr-1"
		fresh.ApprovedBy = `User::"alice"`
		fresh.ApprovedAt = base.Add(time.Minute)
		fresh.ApprovedUntil = base.Add(time.Hour)
		fresh.Events = append(fresh.Events, grants.Event{Type: "approved", Actor: `User::"alice"`, At: base.Add(time.Minute)})
		old := fresh.Version
		if err := s.Update(ctx, fresh); err != nil {
			t.Fatal(err)
		}
		if fresh.Version == old {
			t.Error("Update did not change Version")
		}
		stale.Status = grants.StatusDenied
		if err := s.Update(ctx, stale); !errors.Is(err, grants.ErrConflict) {
			t.Fatalf("stale update: %v, want ErrConflict", err)
		}
		got, _ := s.Get(ctx, "arq-3")
		if diff := cmp.Diff(fresh, got, ignoreVersion, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("after update (-want +got):\n%s", diff)
		}
	})

	t.Run("no lost updates", func(t *testing.T) {
		s := newStore(t)
		if err := s.Create(ctx, NewRequest("arq-4", "a/b", base)); err != nil {
			t.Fatal(err)
		}
		const writers = 8
		var wg sync.WaitGroup
		for i := range writers {
			wg.Go(func() {
				for {
					r, err := s.Get(ctx, "arq-4")
					if err != nil {
						t.Error(err)
						return
					}
					r.Events = append(r.Events, grants.Event{Type: "used", Actor: fmt.Sprint("w", i), At: base})
					err = s.Update(ctx, r)
					if errors.Is(err, grants.ErrConflict) {
						continue
					}
					if err != nil {
						t.Error(err)
					}
					return
				}
			})
		}
		wg.Wait()
		got, _ := s.Get(ctx, "arq-4")
		if len(got.Events) != 1+writers {
			t.Errorf("%d events, want %d: an update was lost", len(got.Events), 1+writers)
		}
	})

	t.Run("list and find", func(t *testing.T) {
		s := newStore(t)
		a := NewRequest("arq-a", "ns/one", base)
		b := NewRequest("arq-b", "ns/two", base.Add(time.Second))
		c := NewRequest("arq-c", "ns/one", base.Add(2*time.Second))
		c.Status = grants.StatusApproved
		c.IdempotencyKey, c.BodyHash = "key-c", "hash-c"
		for _, r := range []*grants.Request{c, a, b} {
			if err := s.Create(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		ids := func(rs []*grants.Request) []string {
			var out []string
			for _, r := range rs {
				out = append(out, r.ID)
			}
			return out
		}
		all, err := s.List(ctx, grants.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"arq-a", "arq-b", "arq-c"}, ids(all)); diff != "" {
			t.Errorf("list all, oldest first (-want +got):\n%s", diff)
		}
		one, _ := s.List(ctx, grants.Filter{Principal: `Agent::"ns/one"`})
		if diff := cmp.Diff([]string{"arq-a", "arq-c"}, ids(one)); diff != "" {
			t.Errorf("list by principal (-want +got):\n%s", diff)
		}
		approved, _ := s.List(ctx, grants.Filter{Principal: `Agent::"ns/one"`, Status: []grants.Status{grants.StatusApproved}})
		if diff := cmp.Diff([]string{"arq-c"}, ids(approved)); diff != "" {
			t.Errorf("list by principal and status (-want +got):\n%s", diff)
		}
		found, err := s.FindIdempotent(ctx, c.Requester, "key-c")
		if err != nil || found.ID != "arq-c" {
			t.Errorf("find idempotent = %v, %v; want arq-c", found, err)
		}
		if _, err := s.FindIdempotent(ctx, `Agent::"ns/two"`, "key-c"); !errors.Is(err, grants.ErrNotFound) {
			t.Errorf("idempotency key of another requester found: %v", err)
		}
	})

	t.Run("watch sees existing and new requests", func(t *testing.T) {
		s := newStore(t)
		if err := s.Create(ctx, NewRequest("arq-w1", "ns/w", base)); err != nil {
			t.Fatal(err)
		}
		wctx, cancel := context.WithCancel(ctx)
		defer cancel()
		seen := make(chan *grants.Request, 64)
		done := make(chan error, 1)
		go func() { done <- s.Watch(wctx, func(r *grants.Request) { seen <- r }) }()
		waitFor(t, seen, func(r *grants.Request) bool { return r.ID == "arq-w1" })
		r2 := NewRequest("arq-w2", "ns/w", base)
		if err := s.Create(ctx, r2); err != nil {
			t.Fatal(err)
		}
		waitFor(t, seen, func(r *grants.Request) bool { return r.ID == "arq-w2" && r.Status == grants.StatusPending })
		r2.Status = grants.StatusApproved
		r2.ApprovedUntil = base.Add(time.Hour)
		if err := s.Update(ctx, r2); err != nil {
			t.Fatal(err)
		}
		waitFor(t, seen, func(r *grants.Request) bool { return r.ID == "arq-w2" && r.Status == grants.StatusApproved })
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Watch ended with %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Watch did not return after its context ended")
		}
	})
}

func waitFor(t *testing.T, ch <-chan *grants.Request, ok func(*grants.Request) bool) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case r := <-ch:
			if ok(r) {
				return
			}
		case <-deadline:
			t.Fatal("watch: expected change not seen")
		}
	}
}
