package registry

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/cedar-policy/cedar-go/types"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
)

// Options configures New.
type Options struct {
	// Client reads ServiceAccounts and Namespaces. Required.
	Client kubernetes.Interface
	// Namespace limits the registry to one namespace. Default "": all.
	Namespace string
	// DefaultTenant is the tenant of agents whose namespace has no
	// agentguard.io/tenant label. Default "": such agents are left out.
	DefaultTenant string
	// Schema is a Cedar schema (human-readable format) declaring the Agent
	// entity type; entities are fitted to it (see the package doc).
	// Default: none, every attribute is kept.
	Schema []byte
	// ResyncPeriod re-delivers every object to the registry periodically.
	// Default 0: never (watch events suffice).
	ResyncPeriod time.Duration
}

// Registry holds the Agent entities of the cluster's labelled
// ServiceAccounts. It implements types.EntityGetter.
type Registry struct {
	opts Options
	inf  *watcher

	mu       sync.RWMutex
	conform  *conformer
	full     map[types.EntityUID]types.Entity // before fitting to the schema
	entities map[types.EntityUID]types.Entity // what Get serves
	problems map[string]string                // "<ns>/<sa>" -> why it is left out
	revision uint64
	changed  chan struct{}
}

var _ types.EntityGetter = (*Registry)(nil)

// New returns a Registry. It watches nothing until Start.
func New(opts Options) (*Registry, error) {
	if opts.Client == nil {
		return nil, errors.New("agent registry: Client is required")
	}
	r := &Registry{
		opts:     opts,
		full:     map[types.EntityUID]types.Entity{},
		entities: map[types.EntityUID]types.Entity{},
		problems: map[string]string{},
		changed:  make(chan struct{}),
	}
	if opts.Schema != nil {
		c, err := newConformer(opts.Schema)
		if err != nil {
			return nil, fmt.Errorf("agent registry: %w", err)
		}
		r.conform = c
	}
	r.inf = newWatcher(r, opts)
	return r, nil
}

// Start starts watching and returns once the registry holds every labelled
// ServiceAccount that existed when it started, or with an error when ctx
// ends first. Watching stops when ctx is done.
func (r *Registry) Start(ctx context.Context) error {
	return r.inf.start(ctx)
}

// HasSynced reports whether the initial listing is complete (for readiness).
func (r *Registry) HasSynced() bool { return r.inf.hasSynced() }

// Get returns the Agent entity with the given UID.
func (r *Registry) Get(uid types.EntityUID) (types.Entity, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	e, ok := r.entities[uid]
	return e, ok
}

// Entities returns a copy of every entity the registry serves.
func (r *Registry) Entities() types.EntityMap {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return maps.Clone(r.entities)
}

// Len returns the number of entities served.
func (r *Registry) Len() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.entities)
}

// Problems returns, by "<namespace>/<serviceaccount>", the labelled
// ServiceAccounts left out of the registry and why (no tenant, a bad mode,
// not conforming to the schema).
func (r *Registry) Problems() map[string]string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return maps.Clone(r.problems)
}

// Revision counts the changes to the served entities.
func (r *Registry) Revision() uint64 {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.revision
}

// Changed returns a channel that is closed at the next change to the served
// entities. Take the channel before reading the state it guards:
//
//	for {
//		ch := reg.Changed()
//		use(reg.Entities())
//		<-ch
//	}
func (r *Registry) Changed() <-chan struct{} {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.changed
}

// SetSchema fits every entity to a new Cedar schema (e.g. when a new bundle
// becomes active); nil keeps every attribute. A schema that does not parse
// or declares no Agent leaves the current one in force.
func (r *Registry) SetSchema(data []byte) error {
	var c *conformer
	if data != nil {
		var err error
		if c, err = newConformer(data); err != nil {
			return fmt.Errorf("agent registry: %w", err)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.conform = c
	dirty := false
	for uid, full := range r.full {
		dirty = r.serveLocked(uid, full) || dirty
	}
	if dirty {
		r.notifyLocked()
	}
	return nil
}

// update records the state of one ServiceAccount: sa nil means gone (or no
// longer labelled).
func (r *Registry) update(namespace, name string, sa *corev1.ServiceAccount, ns *corev1.Namespace) {
	uid := AgentUID(namespace, name)
	key := namespace + "/" + name
	var full types.Entity
	var buildErr error
	if sa != nil {
		full, buildErr = buildAgent(sa, ns, r.opts.DefaultTenant)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	dirty := false
	switch {
	case sa == nil:
		delete(r.full, uid)
		delete(r.problems, key)
		if _, ok := r.entities[uid]; ok {
			delete(r.entities, uid)
			dirty = true
		}
	case buildErr != nil:
		delete(r.full, uid)
		r.problems[key] = buildErr.Error()
		if _, ok := r.entities[uid]; ok {
			delete(r.entities, uid)
			dirty = true
		}
	default:
		r.full[uid] = full
		dirty = r.serveLocked(uid, full)
	}
	if dirty {
		r.notifyLocked()
	}
}

// serveLocked fits full to the schema and serves it, or records why not. It
// reports whether the served entities changed.
func (r *Registry) serveLocked(uid types.EntityUID, full types.Entity) bool {
	key := string(uid.ID)
	old, had := r.entities[uid]
	e, err := r.conform.conform(full)
	if err != nil {
		r.problems[key] = err.Error()
		delete(r.entities, uid)
		return had
	}
	delete(r.problems, key)
	if had && old.Equal(e) {
		return false
	}
	r.entities[uid] = e
	return true
}

func (r *Registry) notifyLocked() {
	r.revision++
	close(r.changed)
	r.changed = make(chan struct{})
}
