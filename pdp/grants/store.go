package grants

import (
	"context"
	"errors"
)

// Store errors callers branch on.
var (
	ErrNotFound = errors.New("access request not found")
	ErrExists   = errors.New("access request already exists")
	// ErrConflict means the request changed since it was read (its Version
	// no longer matches); read it again and retry.
	ErrConflict = errors.New("access request changed concurrently")
	// ErrUnavailable means the store cannot be reached; callers answer 503.
	ErrUnavailable = errors.New("grant store unavailable")
)

// Filter selects requests in List. Zero fields match everything.
type Filter struct {
	// Principal is a Cedar principal ("Agent::\"ns/sa\"" form, see
	// UID.String).
	Principal string
	Status    []Status
}

// Store persists access requests. Every implementation passes the contract
// suite in package storetest.
type Store interface {
	// Create stores a new request and sets its Version; ErrExists if the
	// id is taken.
	Create(ctx context.Context, r *Request) error
	// Get returns a copy of the request; ErrNotFound if unknown.
	Get(ctx context.Context, id string) (*Request, error)
	// Update replaces a request whose Version matches the stored one and
	// sets the new Version; ErrConflict otherwise, ErrNotFound if gone.
	Update(ctx context.Context, r *Request) error
	// List returns the requests matching f, oldest first.
	List(ctx context.Context, f Filter) ([]*Request, error)
	// FindIdempotent returns the request a requester submitted with an
	// Idempotency-Key; ErrNotFound if none.
	FindIdempotent(ctx context.Context, requester, key string) (*Request, error)
	// Watch calls fn with every stored request, then with each change
	// until ctx ends; deleted requests arrive with Status revoked. fn runs
	// on one goroutine, in order.
	Watch(ctx context.Context, fn func(*Request)) error
}
