package grants

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/cedar-policy/cedar-go/types"

	"github.com/agentguard/agentguard/pdp"
)

// Cedar actions the service asks about.
const (
	ActionRequestGrant = "request_grant"
	ActionApproveGrant = "approve_grant"
)

// Caller is the authenticated principal of an access-request call, as a
// Cedar entity: an agent (looked up in the registry or bundle) or a user
// with the groups its credential carries as parents.
type Caller struct {
	Entity types.Entity
}

// UID is the caller's Cedar name.
func (c Caller) UID() UID { return FromCedar(c.Entity.UID) }

// Options configures NewService.
type Options struct {
	// Store keeps the requests. Required.
	Store Store
	// Engines returns the engine in force. Required.
	Engines func() *pdp.Engine
	// Signer signs and verifies binding tokens. Required.
	Signer *Signer
	// Endpoint is the access request endpoint URL put in hints; default
	// none (PEPs use the metadata's access_request_endpoint).
	Endpoint string
	// Now is the clock. Default: the engine's clock.
	Now func() time.Time
	// OnEvent, when set, sees every lifecycle event once it is stored
	// (requested, approved, denied, cancelled, revoked, expired), e.g. for
	// the decision log.
	OnEvent func(*Request, Event)
}

// Service runs the access-request lifecycle.
type Service struct {
	opts Options
}

// NewService checks opts and returns a Service.
func NewService(opts Options) (*Service, error) {
	if opts.Store == nil || opts.Engines == nil || opts.Signer == nil {
		return nil, errors.New("grants: Store, Engines and Signer are required")
	}
	return &Service{opts: opts}, nil
}

func (s *Service) now(eng *pdp.Engine) time.Time {
	if s.opts.Now != nil {
		return s.opts.Now()
	}
	return eng.Now()
}

func (s *Service) engine() (*pdp.Engine, error) {
	if e := s.opts.Engines(); e != nil {
		return e, nil
	}
	return nil, problem(ProblemUnavailable, http.StatusServiceUnavailable, "No policy", "no policy bundle loaded yet")
}

// Hint returns the access_request object for a denial that a grant could
// lift, or false when the denial is not requestable.
func (s *Service) Hint(eng *pdp.Engine, r *pdp.Request, d pdp.Decision) (*Hint, bool) {
	g, ok := eng.Grantable(r, d)
	if !ok {
		return nil, false
	}
	now := s.now(eng)
	exp := now.Add(eng.Grantables().RequestTTL.Duration).UTC().Truncate(time.Second)
	tok, err := s.opts.Signer.sign(r, d.ID, g.Name, now, exp)
	if err != nil {
		return nil, false
	}
	return &Hint{
		Endpoint: s.opts.Endpoint, Template: g.Name, ExpiresAt: exp, BindingToken: tok,
		Display: &Display{Title: "Request access", Description: g.Description},
	}, true
}

// Submit files an access request. The denial binding must verify and match
// the submission, the caller must be the subject, Cedar must allow
// request_grant, and a repeated Idempotency-Key returns the first task
// (replayed true) unless the body differs. An "auto" declaration approves
// at once.
func (s *Service) Submit(ctx context.Context, caller Caller, sub *Submission, idemKey string) (*Request, bool, error) {
	eng, err := s.engine()
	if err != nil {
		return nil, false, err
	}
	now := s.now(eng)
	if sub.Denial.BindingToken == "" {
		return nil, false, problem(ProblemInvalidBinding, http.StatusBadRequest, "Invalid denial binding", "denial.binding_token is required")
	}
	claims, err := s.opts.Signer.verify(sub.Denial.BindingToken, sub, now)
	if err != nil {
		return nil, false, err
	}
	authz := &pdp.Request{Subject: sub.Subject, Action: sub.Action, Resource: sub.Resource, Context: bindingOnly(sub.Context)}
	creq, err := eng.CedarRequest(authz)
	if err != nil {
		return nil, false, badSubmission("%v", err)
	}
	if creq.Principal != caller.Entity.UID {
		return nil, false, forbidden("caller %s may not request access for %s", caller.Entity.UID, creq.Principal)
	}
	var decl *pdp.Grantable
	if gs := eng.Grantables(); gs != nil {
		for i := range gs.Grantable {
			if gs.Grantable[i].Name == claims.Grantable {
				decl = &gs.Grantable[i]
			}
		}
	}
	if decl == nil {
		return nil, false, problem(ProblemNotRequestable, http.StatusBadRequest, "Not requestable", "declaration %q is no longer grantable", claims.Grantable)
	}
	task := contextString(sub.Context, "task")
	if decl.TaskBound && task == "" {
		return nil, false, badSubmission("declaration %q binds grants to a task: context.task is required", decl.Name)
	}

	ask := creq
	ask.Action = types.NewEntityUID("Action", ActionRequestGrant)
	d, err := eng.Decide(ask, nil)
	if err != nil {
		return nil, false, badSubmission("%v", err)
	}
	if !d.Allowed {
		return nil, false, forbidden("policy does not allow %s to request %s (%s)", creq.Principal, creq.Resource, reasonList(d))
	}

	body, _ := json.Marshal(sub)
	sum := sha256.Sum256(body)
	bodyHash := hex.EncodeToString(sum[:])
	if idemKey != "" {
		prev, err := s.opts.Store.FindIdempotent(ctx, caller.UID().String(), idemKey)
		switch {
		case err == nil && prev.BodyHash == bodyHash:
			return prev, true, nil
		case err == nil:
			return nil, false, problem(ProblemDuplicateRequest, http.StatusConflict, "Duplicate request", "Idempotency-Key %q was used for a different request", idemKey)
		case !errors.Is(err, ErrNotFound):
			return nil, false, storeProblem(err)
		}
	}

	until := now.Add(decl.MaxDuration.Duration)
	if ru := sub.RequestedAccess.RequestedUntil; !ru.IsZero() && ru.Before(until) {
		if !ru.After(now) {
			return nil, false, badSubmission("requested_access.requested_until %s is in the past", ru.Format(time.RFC3339))
		}
		until = ru
	}
	r := &Request{
		ID:             newID("arq"),
		Subject:        sub.Subject,
		Action:         sub.Action,
		Resource:       sub.Resource,
		Principal:      FromCedar(creq.Principal),
		CedarAction:    FromCedar(creq.Action),
		CedarResource:  FromCedar(creq.Resource),
		Requester:      caller.UID().String(),
		OnBehalfOf:     contextString(sub.Context, "user"),
		Justification:  firstNonEmpty(contextString(sub.Context, "justification"), contextString(sub.Context, "business_justification")),
		Grantable:      decl.Name,
		Approval:       decl.Approval,
		ApproverGroup:  decl.ApproverGroup,
		EvaluationID:   claims.EvaluationID,
		RequestedUntil: until.UTC(),
		Status:         StatusPending,
		CreatedAt:      now.UTC(),
		ExpiresAt:      now.Add(eng.Grantables().TaskTTL.Duration).UTC(),
		IdempotencyKey: idemKey,
		BodyHash:       bodyHash,
		Events:         []Event{{Type: "requested", Actor: caller.UID().String(), At: now.UTC(), Reason: "policy " + reasonList(d)}},
	}
	if decl.TaskBound {
		r.Task = task
	}
	if decl.Approval == pdp.ApprovalAuto {
		approve(r, "policy:"+decl.Name, now, "approved automatically by declaration "+decl.Name)
	}
	if err := s.opts.Store.Create(ctx, r); err != nil {
		return nil, false, storeProblem(err)
	}
	for _, e := range r.Events {
		s.emit(r, e)
	}
	return r, false, nil
}

// approve moves r to approved, with approved_until never past what was
// requested (already bounded by the declaration's maximum).
func approve(r *Request, actor string, now time.Time, why string) {
	r.Status = StatusApproved
	r.ApprovalID = newID("apr")
	r.ApprovedBy = actor
	r.ApprovedAt = now.UTC()
	r.ApprovedUntil = r.RequestedUntil
	r.Events = append(r.Events, Event{Type: "approved", Actor: actor, At: now.UTC(), Reason: why})
}

// Get returns a request the caller may see: its requester, its subject,
// the user it was made for, or an eligible approver.
func (s *Service) Get(ctx context.Context, caller Caller, id string) (*Request, error) {
	r, err := s.opts.Store.Get(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return nil, unknownTask(id)
	}
	if err != nil {
		return nil, storeProblem(err)
	}
	if s.involved(caller, r) {
		return r, nil
	}
	if ok, _ := s.mayApprove(caller, r); ok {
		return r, nil
	}
	return nil, unknownTask(id) // not 403: do not confirm the task exists
}

func (s *Service) involved(c Caller, r *Request) bool {
	u := c.UID()
	return u.String() == r.Requester || u == r.Principal || (r.OnBehalfOf != "" && u == UID{Type: "User", ID: r.OnBehalfOf})
}

// mayApprove asks Cedar (approve_grant) whether caller may decide r, after
// the separation-of-duties rules no policy can waive: never the agent the
// grant is for, never its requester, never the user it acts for.
func (s *Service) mayApprove(c Caller, r *Request) (bool, string) {
	if s.involved(c, r) {
		return false, "separation of duties: the requester, the agent and the user it acts for cannot decide this request"
	}
	eng, err := s.engine()
	if err != nil {
		return false, err.Error()
	}
	ctx := types.RecordMap{
		"now":       types.NewDatetime(s.now(eng)),
		"requester": r.Principal.Cedar(),
		"grantable": types.String(r.Grantable),
	}
	if r.OnBehalfOf != "" {
		ctx["onBehalfOf"] = types.NewEntityUID("User", types.String(r.OnBehalfOf))
	}
	if r.ApproverGroup != "" {
		ctx["approverGroup"] = types.NewEntityUID("Group", types.String(r.ApproverGroup))
	}
	req := types.Request{
		Principal: c.Entity.UID,
		Action:    types.NewEntityUID("Action", ActionApproveGrant),
		Resource:  r.CedarResource.Cedar(),
		Context:   types.NewRecord(ctx),
	}
	d, err := eng.Decide(req, &c.Entity)
	if err != nil {
		return false, err.Error()
	}
	return d.Allowed, reasonList(d)
}

// Approve approves a pending request.
func (s *Service) Approve(ctx context.Context, caller Caller, id, reason string) (*Request, error) {
	return s.decide(ctx, caller, id, reason, true)
}

// Deny denies a pending request.
func (s *Service) Deny(ctx context.Context, caller Caller, id, reason string) (*Request, error) {
	return s.decide(ctx, caller, id, reason, false)
}

func (s *Service) decide(ctx context.Context, caller Caller, id, reason string, ok bool) (*Request, error) {
	op := "deny"
	if ok {
		op = "approve"
	}
	return s.transition(ctx, id, func(r *Request, now time.Time) error {
		if allowed, why := s.mayApprove(caller, r); !allowed {
			if s.involved(caller, r) {
				return forbidden("%s may not %s access request %s: %s", caller.Entity.UID, op, r.ID, why)
			}
			return forbidden("%s may not %s access request %s (policy: %s)", caller.Entity.UID, op, r.ID, why)
		}
		if r.Status != StatusPending {
			return invalidState(r, op)
		}
		if ok {
			if !now.Before(r.RequestedUntil) {
				return invalidState(r, op+" (it asked for access that has already ended)")
			}
			approve(r, caller.UID().String(), now, reason)
			return nil
		}
		r.Status = StatusDenied
		r.Events = append(r.Events, Event{Type: "denied", Actor: caller.UID().String(), At: now.UTC(), Reason: reason})
		return nil
	})
}

// Cancel withdraws a pending request; only its requester or subject may.
func (s *Service) Cancel(ctx context.Context, caller Caller, id, reason string) (*Request, error) {
	return s.transition(ctx, id, func(r *Request, now time.Time) error {
		if caller.UID().String() != r.Requester && caller.UID() != r.Principal {
			return unknownTask(id)
		}
		if r.Status != StatusPending {
			return invalidState(r, "cancel")
		}
		r.Status = StatusCancelled
		r.Events = append(r.Events, Event{Type: "cancelled", Actor: caller.UID().String(), At: now.UTC(), Reason: reason})
		return nil
	})
}

// Revoke withdraws an approved grant before its expiry: an eligible
// approver may, and so may the agent itself, releasing it when done.
func (s *Service) Revoke(ctx context.Context, caller Caller, id, reason string) (*Request, error) {
	return s.transition(ctx, id, func(r *Request, now time.Time) error {
		own := caller.UID() == r.Principal || caller.UID().String() == r.Requester
		if !own {
			if ok, why := s.mayApprove(caller, r); !ok {
				return forbidden("%s may not revoke grant %s (policy: %s)", caller.Entity.UID, r.ID, why)
			}
		}
		if r.Status != StatusApproved {
			return invalidState(r, "revoke")
		}
		r.Status = StatusRevoked
		r.Events = append(r.Events, Event{Type: "revoked", Actor: caller.UID().String(), At: now.UTC(), Reason: reason})
		return nil
	})
}

// List returns the grants and requests the caller may see: an agent its
// own; a user those of the agent it names (agent filter), or all.
func (s *Service) List(ctx context.Context, caller Caller, f Filter) ([]*Request, error) {
	if caller.Entity.UID.Type != "User" {
		f.Principal = caller.UID().String()
	}
	rs, err := s.opts.Store.List(ctx, f)
	if err != nil {
		return nil, storeProblem(err)
	}
	if caller.Entity.UID.Type == "User" {
		out := rs[:0]
		for _, r := range rs {
			if ok, _ := s.mayApprove(caller, r); ok || s.involved(caller, r) {
				out = append(out, r)
			}
		}
		rs = out
	}
	return rs, nil
}

// transition applies f to the stored request and saves it, retrying on a
// concurrent change. A pending request past its task expiry expires first.
func (s *Service) transition(ctx context.Context, id string, f func(*Request, time.Time) error) (*Request, error) {
	eng, err := s.engine()
	if err != nil {
		return nil, err
	}
	for attempt := 0; attempt < 5; attempt++ {
		r, err := s.opts.Store.Get(ctx, id)
		if errors.Is(err, ErrNotFound) {
			return nil, unknownTask(id)
		}
		if err != nil {
			return nil, storeProblem(err)
		}
		now := s.now(eng)
		if r.Status == StatusPending && !now.Before(r.ExpiresAt) {
			expire(r, now)
			if err := s.opts.Store.Update(ctx, r); err == nil {
				s.emit(r, r.Events[len(r.Events)-1])
				return nil, problem(ProblemTaskExpired, http.StatusGone, "Task expired", "access request %s expired at %s", r.ID, r.ExpiresAt.Format(time.RFC3339))
			}
			continue
		}
		if err := f(r, now); err != nil {
			return nil, err
		}
		err = s.opts.Store.Update(ctx, r)
		if errors.Is(err, ErrConflict) {
			continue
		}
		if err != nil {
			return nil, storeProblem(err)
		}
		s.emit(r, r.Events[len(r.Events)-1])
		return r, nil
	}
	return nil, problem(ProblemUnavailable, http.StatusServiceUnavailable, "Busy", "access request %s keeps changing; retry", id)
}

func (s *Service) emit(r *Request, e Event) {
	if s.opts.OnEvent != nil {
		s.opts.OnEvent(r, e)
	}
}

// EventFunc is the service's OnEvent hook, for the package functions
// (Janitor, MarkUsed) that change requests outside the service.
func (s *Service) EventFunc() func(*Request, Event) { return s.opts.OnEvent }

func expire(r *Request, now time.Time) {
	r.Status = StatusExpired
	r.Events = append(r.Events, Event{Type: "expired", Actor: "agentguard", At: now.UTC(), Reason: "no decision before the task expired"})
}

func storeProblem(err error) error {
	var p *Problem
	if errors.As(err, &p) {
		return p
	}
	if errors.Is(err, ErrUnavailable) {
		return problem(ProblemUnavailable, http.StatusServiceUnavailable, "Grant store unavailable", "the grant store cannot be reached; retry later")
	}
	return err
}

func reasonList(d pdp.Decision) string {
	if len(d.Reasons) == 0 {
		return "no policy permits it"
	}
	return strings.Join(d.Reasons, ", ")
}

// bindingOnly keeps the context members a grant is bound to.
func bindingOnly(raw json.RawMessage) json.RawMessage {
	var all map[string]any
	if json.Unmarshal(raw, &all) != nil {
		return nil
	}
	out := map[string]any{}
	for _, k := range BindingContext {
		if v, ok := all[k]; ok {
			out[k] = v
		}
	}
	if len(out) == 0 {
		return nil
	}
	b, _ := json.Marshal(out)
	return b
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// newID returns an unguessable id (130 random bits) that is also a valid
// Kubernetes object name.
func newID(prefix string) string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err))
	}
	return prefix + "-" + idEncoding.EncodeToString(b)
}
