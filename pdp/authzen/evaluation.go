package authzen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/agentguard/agentguard/internal/httpx"
	"github.com/agentguard/agentguard/pdp"
	"github.com/agentguard/agentguard/pdp/authn"
	"github.com/agentguard/agentguard/pdp/grants"
)

// Decision is an AuthZEN decision (§5.5).
type Decision struct {
	Decision bool             `json:"decision"`
	Context  *DecisionContext `json:"context,omitempty"`
}

// DecisionContext is what agentguard returns beside a decision.
type DecisionContext struct {
	// DecisionID names the decision in logs, traces and the decision log.
	DecisionID string `json:"decision_id,omitempty"`
	// EvaluationID is the same id under the Access Request profile's name.
	EvaluationID string `json:"evaluation_id,omitempty"`
	// EvaluatedAt is when the PDP decided (its own clock).
	EvaluatedAt string `json:"evaluated_at,omitempty"`
	// Policies are the @id of the determining policies (unless hidden).
	Policies []string `json:"policies,omitempty"`
	// Reason is a machine-readable code: permitted, forbidden,
	// not_permitted, approval_required (a grant could lift the denial),
	// approval_expired or approval_unverifiable (ARAP re-evaluation).
	Reason string `json:"reason,omitempty"`
	// ReasonAdmin says in plain words why (AG-OBS-010), by language.
	ReasonAdmin *Localized `json:"reason_admin,omitempty"`
	// AccessRequest makes a denial requestable (ARAP §Requestable Denial).
	AccessRequest *grants.Hint `json:"access_request,omitempty"`
	// Approval names the grant that allowed the call, and its expiry.
	Approval *Approval `json:"approval,omitempty"`
	// Revision is the bundle revision that decided.
	Revision string `json:"revision,omitempty"`
	// Error is set on an evaluation in an evaluations array that could not
	// be evaluated (§7.2 Errors); its decision is false.
	Error *EvalError `json:"error,omitempty"`
	// Code is set on the decision that stopped a short-circuit semantic.
	Code string `json:"code,omitempty"`
}

// Localized is a text by language tag.
type Localized struct {
	En string `json:"en"`
}

// Approval is the grant behind an allow (ARAP §Completion Semantics).
type Approval struct {
	ID            string `json:"id"`
	ApprovedUntil string `json:"approved_until"`
}

// EvalError is a per-evaluation error.
type EvalError struct {
	Status  int    `json:"status"`
	Message string `json:"message"`
}

func (s *Server) handleEvaluation(w http.ResponseWriter, r *http.Request) {
	ctx, span := s.startSpan(r, "authzen.evaluation")
	defer span.End()
	start := time.Now()

	body, err := httpx.ReadJSONBody(w, r, s.opts.MaxBodyBytes)
	if err != nil {
		s.fail(ctx, w, r, span, "evaluation", err)
		return
	}
	var req evaluationRequest
	if err := decode(body, &req); err != nil {
		s.fail(ctx, w, r, span, "evaluation", err)
		return
	}
	preq, err := req.request("")
	if err != nil {
		s.fail(ctx, w, r, span, "evaluation", err)
		return
	}
	eng, err := s.engine()
	if err != nil {
		s.fail(ctx, w, r, span, "evaluation", err)
		return
	}
	out, err := s.evaluate(ctx, eng, caller(r), preq)
	if err != nil {
		s.fail(ctx, w, r, span, "evaluation", err)
		return
	}
	s.record(ctx, span, "evaluation", preq, out.d, start)
	writeDecisions(w, &out.resp)
}

// evaluated is one decision and its response.
type evaluated struct {
	d    pdp.Decision
	resp Decision
}

// evaluate decides one request for an authenticated caller (nil without
// authentication): the subject must be the caller or one it may
// evaluate_for; an ARAP approval in the context is taken out (it is not a
// policy input: the grant itself is); a denial a grant could lift carries
// an access_request; an allow by a grant names it.
func (s *Server) evaluate(ctx context.Context, eng *pdp.Engine, id *authn.Identity, preq *pdp.Request) (evaluated, error) {
	if err := s.bindSubject(ctx, eng, id, preq.Subject); err != nil {
		return evaluated{}, err
	}
	approvalID := takeApproval(preq)
	d, err := eng.Evaluate(preq)
	if err != nil {
		return evaluated{}, requestError(err)
	}
	resp := s.decision(eng, d)
	defer func() { s.decisionSpan(ctx, preq, d, grantOf(resp)) }()
	if s.opts.Grants == nil {
		s.auditDecision(ctx, eng, id, preq, d, resp.Context.ReasonAdmin.En, "")
		return evaluated{d: d, resp: resp}, nil
	}
	if d.Allowed {
		gid := ""
		for _, pid := range d.Reasons {
			g, ok := strings.CutPrefix(pid, pdp.GrantPolicyPrefix)
			if !ok {
				continue
			}
			if grant, ok := eng.Grants().Get(g); ok {
				gid = g
				resp.Context.Approval = &Approval{ID: g, ApprovedUntil: grant.Until.UTC().Format(time.RFC3339)}
				s.markUsed(g, d)
				break
			}
		}
		s.auditDecision(ctx, eng, id, preq, d, resp.Context.ReasonAdmin.En, gid)
		return evaluated{d: d, resp: resp}, nil
	}
	defer s.auditDecision(ctx, eng, id, preq, d, resp.Context.ReasonAdmin.En, "")
	switch {
	case approvalID != "":
		resp.Context.Reason = "approval_unverifiable"
		if g, ok := eng.Grants().Get(approvalID); ok && !eng.Now().Before(g.Until) {
			resp.Context.Reason = "approval_expired"
		}
		if h, ok := s.opts.Grants.Hint(eng, preq, d); ok && resp.Context.Reason == "approval_expired" {
			resp.Context.AccessRequest = h
		}
	default:
		if h, ok := s.opts.Grants.Hint(eng, preq, d); ok {
			resp.Context.Reason = "approval_required"
			resp.Context.AccessRequest = h
		}
	}
	return evaluated{d: d, resp: resp}, nil
}

func grantOf(resp Decision) string {
	if resp.Context != nil && resp.Context.Approval != nil {
		return resp.Context.Approval.ID
	}
	return ""
}

// markUsed records a grant's first use off the decision path.
func (s *Server) markUsed(gid string, d pdp.Decision) {
	if s.opts.GrantStore == nil {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := grants.MarkUsed(ctx, s.opts.GrantStore, gid, "decision:"+d.ID, time.Now(), s.opts.Grants.EventFunc()); err != nil {
			// The use is in the decision log either way; a store outage
			// is reported by /v1/status, not once per decision.
			s.opts.Log.Debug("could not record grant use on the request", "grant", gid, "error", err)
		}
	}()
}

// takeApproval removes context.approval (ARAP re-evaluation) from the
// request and returns its id, or "".
func takeApproval(r *pdp.Request) string {
	if !bytes.Contains(r.Context, []byte(`"approval"`)) {
		return ""
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(r.Context, &m) != nil {
		return ""
	}
	raw, ok := m["approval"]
	if !ok {
		return ""
	}
	delete(m, "approval")
	var a struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(raw, &a)
	r.Context, _ = json.Marshal(m)
	if a.ID == "" {
		return "?"
	}
	return a.ID
}

// decision renders an engine decision.
func (s *Server) decision(eng *pdp.Engine, d pdp.Decision) Decision {
	at := d.At
	if at.IsZero() {
		at = eng.Now()
	}
	// One allocation for the context and its localized reason.
	p := &struct {
		dc    DecisionContext
		admin Localized
	}{admin: Localized{En: reason(d)}}
	dc := &p.dc
	*dc = DecisionContext{
		DecisionID:   d.ID,
		EvaluationID: d.ID,
		EvaluatedAt:  evaluatedAt(at),
		Revision:     d.Revision,
		Reason:       reasonCode(d),
		ReasonAdmin:  &p.admin,
	}
	if !s.opts.HidePolicies {
		dc.Policies = d.Reasons
	}
	return Decision{Decision: d.Allowed, Context: dc}
}

// stamp is a formatted evaluated_at and its millisecond.
type stamp struct {
	ms int64
	s  string
}

// lastStamp is the most recent evaluated_at: decisions within one
// millisecond share it.
var lastStamp atomic.Pointer[stamp]

// evaluatedAt formats t for evaluated_at: RFC 3339 in UTC with
// milliseconds, the precision PEPs align their clocks with.
func evaluatedAt(t time.Time) string {
	ms := t.UnixMilli()
	if st := lastStamp.Load(); st != nil && st.ms == ms {
		return st.s
	}
	st := &stamp{ms: ms, s: t.UTC().Format("2006-01-02T15:04:05.000Z07:00")}
	lastStamp.Store(st)
	return st.s
}

func reasonCode(d pdp.Decision) string {
	switch {
	case d.Allowed:
		return "permitted"
	case len(d.Reasons) > 0:
		return "forbidden"
	}
	return "not_permitted"
}

// reason explains a decision in one sentence.
func reason(d pdp.Decision) string {
	switch {
	case d.Allowed:
		return "permitted by " + strings.Join(d.Reasons, ", ")
	case len(d.Reasons) > 0:
		return "forbidden by " + strings.Join(d.Reasons, ", ")
	case len(d.Errors) > 0:
		return "no policy permits this request (default deny); some policies could not be evaluated"
	}
	return "no policy permits this request (default deny)"
}

// requestError maps an engine error to an HTTP error: the caller's fault is
// a 400, anything else stays an internal error.
func requestError(err error) error {
	if errors.Is(err, pdp.ErrBadRequest) {
		return httpx.Errorf(http.StatusBadRequest, "%v", err)
	}
	return err
}

// Span options, built once.
var (
	serverSpan   = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindServer)}
	internalSpan = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindInternal)}
)

// startSpan continues the caller's trace (W3C traceparent and baggage)
// with a server span. Without tracing, the span is the caller's remote one
// (non-recording): logs and decision records still carry its trace id.
func (s *Server) startSpan(r *http.Request, name string) (context.Context, trace.Span) {
	ctx := r.Context()
	for _, h := range s.propagated {
		if len(r.Header[h]) > 0 {
			ctx = s.opts.Propagator.Extract(ctx, propagation.HeaderCarrier(r.Header))
			break
		}
	}
	if !s.tracing {
		return ctx, trace.SpanFromContext(ctx)
	}
	ctx, span := s.tracer.Start(ctx, name, serverSpan...)
	if span.IsRecording() {
		span.SetAttributes(attribute.String("http.request.method", r.Method), attribute.String("url.path", r.URL.Path))
	}
	return ctx, span
}

// fail answers with err and counts it.
func (s *Server) fail(ctx context.Context, w http.ResponseWriter, r *http.Request, span trace.Span, endpoint string, err error) {
	var he *httpx.Error
	status := http.StatusInternalServerError
	if errors.As(err, &he) {
		status = he.Status
	}
	span.SetStatus(codes.Error, err.Error())
	s.metrics.errors(ctx, endpoint, status)
	rid := httpx.EnsureRequestID(w, r)
	if status >= 500 {
		s.opts.Log.ErrorContext(ctx, "request failed", "request_id", rid, "status", status, "error", err)
	} else {
		s.opts.Log.DebugContext(ctx, "bad request", "request_id", rid, "status", status, "error", err)
	}
	httpx.WriteError(w, r, err)
}

// record adds a decision to the span, the metrics and the debug log.
func (s *Server) record(ctx context.Context, span trace.Span, endpoint string, req *pdp.Request, d pdp.Decision, start time.Time) {
	s.metrics.decision(endpoint, d.Allowed, time.Since(start), toolLabel(s.opts.Engines.Engine(), req))
	if s.opts.Log.Enabled(ctx, slog.LevelDebug) {
		s.opts.Log.DebugContext(ctx, "decision", "decision_id", d.ID, "allowed", d.Allowed, "policies", d.Reasons,
			"subject", req.Subject.Type+":"+req.Subject.ID, "action", req.Action.Name, "resource", req.Resource.Type+":"+req.Resource.ID,
			"revision", d.Revision)
	}
}

// decisionSpan records one decision as a span: the caller's trace (W3C
// traceparent) continues through it, with OTel GenAI attributes where they
// exist and agentguard.* otherwise (README "Telemetry").
func (s *Server) decisionSpan(ctx context.Context, req *pdp.Request, d pdp.Decision, grantID string) {
	if !s.tracing {
		return
	}
	_, span := s.tracer.Start(ctx, "agentguard.decide", internalSpan...)
	defer span.End()
	if !span.IsRecording() {
		return
	}
	attrs := []attribute.KeyValue{
		attribute.String("gen_ai.agent.id", req.Subject.ID),
		attribute.String("gen_ai.tool.name", req.Resource.ID),
		attribute.String("agentguard.subject.type", req.Subject.Type),
		attribute.String("agentguard.action", req.Action.Name),
		attribute.String("agentguard.resource.type", req.Resource.Type),
		attribute.String("agentguard.decision_id", d.ID),
		attribute.Bool("agentguard.decision", d.Allowed),
		attribute.StringSlice("agentguard.policies", d.Reasons),
		attribute.String("agentguard.bundle_revision", d.Revision),
	}
	if grantID != "" {
		attrs = append(attrs, attribute.String("agentguard.grant_id", grantID))
	}
	bag := baggage.FromContext(ctx)
	for _, k := range []string{"session.id", "agentguard.task"} {
		if v := bag.Member(k).Value(); v != "" {
			attrs = append(attrs, attribute.String(k, v))
		}
	}
	span.SetAttributes(attrs...)
}

// toolLabel is the resource id for the decision metrics when the bundle
// knows it (a bounded set), else "unknown": caller-chosen ids never become
// label values.
func toolLabel(eng *pdp.Engine, req *pdp.Request) string {
	if eng != nil && eng.KnownResource(req.Resource) {
		return req.Resource.ID
	}
	return "unknown"
}
