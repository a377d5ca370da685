package grants

import (
	"context"
	"errors"
	"time"

	"github.com/agentguard/agentguard/pdp"
)

// Sync keeps the PDP's live grant set equal to the store's approved
// requests until ctx ends: every approved request becomes a pdp.Grant,
// anything else leaves it. Every PDP replica runs one, which is how a
// grant approved through replica A reaches replica B.
func Sync(ctx context.Context, store Store, live *pdp.Grants) error {
	return store.Watch(ctx, func(r *Request) { Apply(live, r) })
}

// Grant is the pdp.Grant an approved request yields.
func (r *Request) Grant() (pdp.Grant, bool) {
	if r.Status != StatusApproved {
		return pdp.Grant{}, false
	}
	return pdp.Grant{
		ID:        r.ID,
		Principal: r.Principal.Cedar(),
		Action:    r.CedarAction.Cedar(),
		Resource:  r.CedarResource.Cedar(),
		Until:     r.ApprovedUntil,
		Task:      r.Task,
	}, true
}

// Janitor marks pending requests past their task expiry as expired and
// approved ones past approved_until as expired (recording the event), and
// prunes the live set, every interval until ctx ends. It is bookkeeping:
// an expired grant already allows nothing, by the PDP's clock.
func Janitor(ctx context.Context, store Store, live *pdp.Grants, now func() time.Time, interval time.Duration, onEvent func(*Request, Event)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			ExpireDue(ctx, store, now(), onEvent)
			live.Prune(now())
		}
	}
}

// ExpireDue records the expiry of every request whose time has passed and
// returns how many it changed; onEvent (optional) sees each expiry.
func ExpireDue(ctx context.Context, store Store, now time.Time, onEvent func(*Request, Event)) int {
	rs, err := store.List(ctx, Filter{Status: []Status{StatusPending, StatusApproved}})
	if err != nil {
		return 0
	}
	n := 0
	for _, r := range rs {
		switch {
		case r.Status == StatusPending && !now.Before(r.ExpiresAt):
			expire(r, now)
		case r.Status == StatusApproved && !now.Before(r.ApprovedUntil):
			r.Status = StatusExpired
			r.Events = append(r.Events, Event{Type: "expired", Actor: "agentguard", At: now.UTC(), Reason: "approved_until passed"})
		default:
			continue
		}
		if store.Update(ctx, r) == nil {
			n++
			if onEvent != nil {
				onEvent(r, r.Events[len(r.Events)-1])
			}
		}
	}
	return n
}

// MarkUsed records the first use of a grant (later uses are in the
// decision log, not on the request); onEvent (optional) sees it.
func MarkUsed(ctx context.Context, store Store, id, actor string, now time.Time, onEvent func(*Request, Event)) error {
	for attempt := 0; attempt < 3; attempt++ {
		r, err := store.Get(ctx, id)
		if err != nil {
			return err
		}
		for _, e := range r.Events {
			if e.Type == "used" {
				return nil
			}
		}
		ev := Event{Type: "used", Actor: actor, At: now.UTC()}
		r.Events = append(r.Events, ev)
		if err := store.Update(ctx, r); err == nil {
			if onEvent != nil {
				onEvent(r, ev)
			}
			return nil
		}
	}
	return ErrConflict
}

// Reconcile brings live in line with the store: a backstop for a watch
// that is slow to resume after an outage (client-go backs off for up to
// a minute without a word). Requests whose presence in live disagrees with
// the listing are read again, so that a change the watch delivered after
// the listing is not undone. It returns the store's error, if any.
func Reconcile(ctx context.Context, store Store, live *pdp.Grants) error {
	rs, err := store.List(ctx, Filter{Status: []Status{StatusApproved}})
	if err != nil {
		return err
	}
	listed := map[string]bool{}
	for _, r := range rs {
		listed[r.ID] = true
		if _, ok := live.Get(r.ID); !ok {
			refresh(ctx, store, live, r.ID)
		}
	}
	for _, id := range live.IDs() {
		if !listed[id] {
			refresh(ctx, store, live, id)
		}
	}
	return nil
}

// refresh reads one request again and applies what it says now.
func refresh(ctx context.Context, store Store, live *pdp.Grants, id string) {
	r, err := store.Get(ctx, id)
	if errors.Is(err, ErrNotFound) {
		live.Delete(id)
		return
	}
	if err != nil {
		return
	}
	if g, ok := r.Grant(); ok {
		live.Put(g)
	} else {
		live.Delete(id)
	}
}

// Apply puts an approved request into live and takes any other out: for a
// replica to honour what it has just stored itself without waiting for its
// watch.
func Apply(live *pdp.Grants, r *Request) {
	if g, ok := r.Grant(); ok {
		live.Put(g)
		return
	}
	live.Delete(r.ID)
}
