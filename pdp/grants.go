package pdp

import (
	"fmt"
	"iter"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cedar-policy/cedar-go"
	"github.com/cedar-policy/cedar-go/ast"
	"github.com/cedar-policy/cedar-go/types"
	xast "github.com/cedar-policy/cedar-go/x/exp/ast"
)

// GrantPolicyPrefix starts the policy id of every compiled grant, so a
// decision's reasons show which grant allowed it.
const GrantPolicyPrefix = "grant:"

// Grant is an approved just-in-time permission. It compiles into a Cedar
// permit scoped exactly to one principal, action and resource that holds
// while context.now < Until and, for a task-bound grant, only for that task
// (context.request.task). A forbid still wins over it (Cedar's
// deny-overrides), and expiry is decided by the PDP's clock at evaluation
// time, not by garbage collection.
type Grant struct {
	ID        string
	Principal types.EntityUID
	Action    types.EntityUID
	Resource  types.EntityUID
	Until     time.Time
	Task      string
}

// PolicyID is the id of the grant's Cedar policy.
func (g Grant) PolicyID() string { return GrantPolicyPrefix + g.ID }

// policy compiles the grant into a Cedar permit.
func (g Grant) policy() *cedar.Policy {
	p := ast.Permit().
		Annotate(PolicyIDAnnotation, types.String(g.PolicyID())).
		PrincipalEq(g.Principal).
		ActionEq(g.Action).
		ResourceEq(g.Resource).
		When(ast.Context().Access(ContextNow).LessThan(ast.DatetimeExtensionCall(ast.String(cedarTime(g.Until)))))
	if g.Task != "" {
		req := ast.Context().Access(ContextRequest)
		p = p.When(ast.Context().Has(ContextRequest).And(req.Has("task")).And(req.Access("task").Equal(ast.String(g.Task))))
	}
	return cedar.NewPolicyFromAST(p)
}

// Grants is the live set of grants every Engine consults, indexed by their
// exact principal and resource. Grants outlive bundle revisions: pass the
// same Grants to each new Engine. Safe for concurrent use.
type Grants struct {
	mu     sync.RWMutex
	byPair map[[2]types.EntityUID][]*grantEntry
	byID   map[string]*grantEntry
}

// grantEntry holds a grant and, once a request has needed it, its
// compiled Cedar policy. Compiling on first use keeps a store of 100,000
// grants small in memory (a compiled policy is ~1.4 KB of pointers the
// garbage collector would scan on every cycle); only grants in use pay.
type grantEntry struct {
	g Grant
	p atomic.Pointer[policy]
}

func (e *grantEntry) policy() *policy {
	if p := e.p.Load(); p != nil {
		return p
	}
	p := &policy{id: cedar.PolicyID(e.g.PolicyID()), p: e.g.policy()}
	e.p.Store(p) // a concurrent first use compiles twice; either result is right
	return p
}

// NewGrants returns an empty grant set.
func NewGrants() *Grants {
	return &Grants{byPair: map[[2]types.EntityUID][]*grantEntry{}, byID: map[string]*grantEntry{}}
}

// Put adds or replaces the grant with g.ID.
func (s *Grants) Put(g Grant) {
	e := &grantEntry{g: g}
	k := [2]types.EntityUID{g.Principal, g.Resource}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deleteLocked(g.ID)
	s.byID[g.ID] = e
	s.byPair[k] = append(s.byPair[k], e)
}

// Delete removes a grant (revocation). Unknown ids are ignored.
func (s *Grants) Delete(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deleteLocked(id)
}

func (s *Grants) deleteLocked(id string) {
	old, ok := s.byID[id]
	if !ok {
		return
	}
	delete(s.byID, id)
	k := [2]types.EntityUID{old.g.Principal, old.g.Resource}
	list := s.byPair[k]
	for i, e := range list {
		if e == old {
			list = append(list[:i:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(s.byPair, k)
	} else {
		s.byPair[k] = list
	}
}

// Get returns the grant with id.
func (s *Grants) Get(id string) (Grant, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e, ok := s.byID[id]
	if !ok {
		return Grant{}, false
	}
	return e.g, true
}

// IDs lists the ids of the grants held.
func (s *Grants) IDs() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]string, 0, len(s.byID))
	for id := range s.byID {
		out = append(out, id)
	}
	return out
}

// Len is the number of grants held (expired ones included until pruned).
func (s *Grants) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.byID)
}

// Prune drops grants that expired before now and returns their ids. It is
// housekeeping only: an expired grant already allows nothing.
func (s *Grants) Prune(now time.Time) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var gone []string
	for id, e := range s.byID {
		if !now.Before(e.g.Until) {
			gone = append(gone, id)
		}
	}
	for _, id := range gone {
		s.deleteLocked(id)
	}
	return gone
}

// appendCandidates appends the grants for the request's exact pair.
func (s *Grants) appendCandidates(buf []*policy, req *types.Request) []*policy {
	s.mu.RLock()
	for _, e := range s.byPair[[2]types.EntityUID{req.Principal, req.Resource}] {
		buf = append(buf, e.policy())
	}
	s.mu.RUnlock()
	return buf
}

// all yields every grant policy (for the unindexed engine).
func (s *Grants) all() iter.Seq[*policy] {
	return func(yield func(*policy) bool) {
		s.mu.RLock()
		list := make([]*policy, 0, len(s.byID))
		for _, e := range s.byID {
			list = append(list, e.policy())
		}
		s.mu.RUnlock()
		for _, p := range list {
			if !yield(p) {
				return
			}
		}
	}
}

// CheckGrant validates the grant's policy against the bundle schema in
// strict mode, so that only grants the schema allows (principal, action and
// resource types; context.request.task for task-bound grants) are stored.
func (e *Engine) CheckGrant(g Grant) error {
	if g.ID == "" {
		return fmt.Errorf("grant has no id")
	}
	if g.Until.IsZero() {
		return fmt.Errorf("grant %s has no expiry", g.ID)
	}
	if err := guard(func() error { return e.c.validator.Policy(g.PolicyID(), (*xast.Policy)(g.policy().AST())) }); err != nil {
		return fmt.Errorf("grant %s does not validate against the schema: %w", g.ID, err)
	}
	return nil
}

// cedarTime formats t as a Cedar datetime literal (UTC, milliseconds).
func cedarTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// guard runs a cedar-go validator call and turns a panic inside it into an
// error, so no policy or request can crash the PDP.
func guard(f func() error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("validator failed: %v", v)
		}
	}()
	return f()
}
