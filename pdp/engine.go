package pdp

import (
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/cedar-policy/cedar-go"
	"github.com/cedar-policy/cedar-go/types"

	"github.com/agentguard/agentguard/internal/ids"
)

// Options configures New and Load.
type Options struct {
	// DisableIndex makes every request evaluate every policy, as plain
	// cedar-go does. For differential tests and benchmarks; default false.
	DisableIndex bool
	// Now is the PDP's clock, the source of context.now. Default time.Now.
	Now func() time.Time
	// Grants are the live just-in-time grants to consult besides the
	// bundle's policies; nil means none.
	Grants *Grants
	// Entities, when set, are consulted before the bundle's entities: the
	// cluster's agent registry. Nil means the bundle's entities only.
	Entities types.EntityGetter
}

func (o *Options) setDefaults() {
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Engine decides authorization requests against one bundle revision. It is
// immutable and safe for concurrent use; a new bundle means a new Engine.
type Engine struct {
	c       *compiled
	index   *scopeIndex // nil when disabled
	grants  *Grants     // nil when none
	dynamic types.EntityGetter
	now     func() time.Time
	bufs    sync.Pool
}

// New validates src as a whole and builds an Engine. Any problem (parse
// error, missing or duplicate @id, schema violation in a policy or entity,
// a mapping to unknown names) refuses the whole bundle; the error names
// each file and, where known, the line.
func New(src Source, opts Options) (*Engine, error) {
	opts.setDefaults()
	c, err := compile(src)
	if err != nil {
		return nil, err
	}
	e := &Engine{c: c, now: opts.Now, grants: opts.Grants, dynamic: opts.Entities}
	if !opts.DisableIndex {
		e.index = newScopeIndex(c.policies, c.entities)
	}
	e.bufs.New = func() any { s := make([]*policy, 0, 64); return &s }
	return e, nil
}

// Revision is the bundle revision this engine decides with.
func (e *Engine) Revision() string { return e.c.revision }

// PolicyCount is the number of policies in the bundle.
func (e *Engine) PolicyCount() int { return len(e.c.policies) }

// Grants is the live grant set this engine consults, or nil.
func (e *Engine) Grants() *Grants { return e.grants }

// Now is the PDP's clock.
func (e *Engine) Now() time.Time { return e.now() }

// Mapping is the AuthZEN-to-Cedar mapping in force.
func (e *Engine) Mapping() Mapping { return *e.c.mapping }

// Evaluate maps an AuthZEN request onto Cedar (see Mapping; context.now is
// the PDP's clock), validates it against the schema in strict mode and
// decides it. Errors wrap ErrBadRequest and are *RequestError values: the
// request, not the PDP, is at fault.
func (e *Engine) Evaluate(r *Request) (Decision, error) {
	return e.EvaluateAs(r, nil)
}

// EvaluateAt is Evaluate with context.now set to at instead of the PDP's
// clock: for a PEP's local fallback, which follows the PDP's clock as it
// last saw it, not its own host's.
func (e *Engine) EvaluateAt(r *Request, at time.Time) (Decision, error) {
	req, err := e.c.mapping.cedarRequest(r, at)
	if err != nil {
		return Decision{}, err
	}
	if err := guard(func() error { return e.c.validator.Request(req) }); err != nil {
		return Decision{}, explainInvalid(e.c.schema, req, err)
	}
	d := e.authorize(req, nil)
	d.At = at
	return d, nil
}

// EvaluateAs is Evaluate with the principal's entity supplied by the
// caller of the engine (the PDP's authentication, e.g. an approver's user
// entity with the groups its token carries) instead of looked up. Its UID
// must be the request's principal; a nil principal means look it up.
func (e *Engine) EvaluateAs(r *Request, principal *types.Entity) (Decision, error) {
	now := e.now()
	req, err := e.c.mapping.cedarRequest(r, now)
	if err != nil {
		return Decision{}, err
	}
	if principal != nil && principal.UID != req.Principal {
		return Decision{}, badRequest("subject", "the authenticated principal is %s, not %s", principal.UID, req.Principal)
	}
	if err := guard(func() error { return e.c.validator.Request(req) }); err != nil {
		return Decision{}, explainInvalid(e.c.schema, req, err)
	}
	d := e.authorize(req, principal)
	d.At = now
	return d, nil
}

// Entity looks an entity up in the dynamic entities, then the bundle's.
func (e *Engine) Entity(uid types.EntityUID) (types.Entity, bool) {
	return (&layered{dynamic: e.dynamic, bundle: e.c.entities}).Get(uid)
}

// KnownResource reports whether the bundle declares the AuthZEN resource
// as an entity (a bounded set, fit for a metric label).
func (e *Engine) KnownResource(r Entity) bool {
	t, ok := e.c.mapping.ResourceTypes[r.Type]
	if !ok {
		return false
	}
	_, ok = e.c.entities[types.NewEntityUID(t, types.String(r.ID))]
	return ok
}

// SubjectUID maps an AuthZEN subject to its Cedar principal.
func (e *Engine) SubjectUID(s Entity) (types.EntityUID, error) {
	t, ok := e.c.mapping.SubjectTypes[s.Type]
	if !ok {
		return types.EntityUID{}, badRequest("subject.type", "unknown subject type %q (the bundle maps %s)", s.Type, keys(e.c.mapping.SubjectTypes))
	}
	return types.NewEntityUID(t, types.String(s.ID)), nil
}

// CedarRequest maps an AuthZEN request onto Cedar names (see Mapping),
// with context.now from the PDP's clock, without validating or deciding it.
func (e *Engine) CedarRequest(r *Request) (types.Request, error) {
	return e.c.mapping.cedarRequest(r, e.now())
}

// Decide validates a Cedar request the PDP built itself (e.g. approve_grant
// with the approver's entity) against the schema in strict mode and
// decides it.
func (e *Engine) Decide(req types.Request, principal *types.Entity) (Decision, error) {
	if principal != nil && principal.UID != req.Principal {
		return Decision{}, fmt.Errorf("principal entity %s is not the request's principal %s", principal.UID, req.Principal)
	}
	if err := guard(func() error { return e.c.validator.Request(req) }); err != nil {
		return Decision{}, explainInvalid(e.c.schema, req, err)
	}
	return e.authorize(req, principal), nil
}

// Authorize decides a Cedar request as is, without mapping or validation.
func (e *Engine) Authorize(req types.Request) Decision {
	return e.authorize(req, nil)
}

func (e *Engine) authorize(req types.Request, principal *types.Entity) Decision {
	var (
		dec      cedar.Decision
		diag     cedar.Diagnostic
		entities types.EntityGetter = e.c.entities
		l        *layered
	)
	if principal != nil || e.dynamic != nil {
		l = &layered{principal: principal, dynamic: e.dynamic, bundle: e.c.entities}
		entities = l
	}
	if e.index == nil {
		all := policyList(e.c.policies)
		if e.grants != nil {
			all = slices.AppendSeq(slices.Clone(all), e.grants.all())
		}
		dec, diag = cedar.Authorize(all, entities, req)
	} else {
		bp := e.bufs.Get().(*[]*policy)
		cands := e.index.exact(&req, l, e.index.candidates(&req, l, (*bp)[:0]))
		if e.grants != nil {
			cands = e.grants.appendCandidates(cands, &req)
		}
		dec, diag = cedar.Authorize(policyList(cands), entities, req)
		clear(cands)
		*bp = cands[:0]
		e.bufs.Put(bp)
	}
	d := Decision{
		ID:       ids.New(),
		Allowed:  dec == cedar.Allow,
		Revision: e.c.revision,
		context:  req.Context,
	}
	if len(diag.Reasons) > 0 {
		d.Reasons = make([]string, len(diag.Reasons))
		for i, r := range diag.Reasons {
			d.Reasons[i] = string(r.PolicyID)
		}
		slices.Sort(d.Reasons)
	}
	if len(diag.Errors) > 0 {
		d.Errors = make([]EvalError, len(diag.Errors))
		for i, er := range diag.Errors {
			d.Errors[i] = EvalError{PolicyID: string(er.PolicyID), Message: er.Message}
		}
		slices.SortFunc(d.Errors, func(a, b EvalError) int {
			if a.PolicyID < b.PolicyID {
				return -1
			}
			if a.PolicyID > b.PolicyID {
				return 1
			}
			return 0
		})
	}
	return d
}
