package authzen

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/agentguard/agentguard/internal/httpx"
	"github.com/agentguard/agentguard/pdp"
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
	// Policies are the @id of the determining policies (unless hidden).
	Policies []string `json:"policies,omitempty"`
	// Reason says in plain words why (AG-OBS-010).
	Reason string `json:"reason,omitempty"`
	// Revision is the bundle revision that decided.
	Revision string `json:"revision,omitempty"`
	// Error is set on an evaluation in an evaluations array that could not
	// be evaluated (§7.2 Errors); its decision is false.
	Error *EvalError `json:"error,omitempty"`
	// Code is set on the decision that stopped a short-circuit semantic.
	Code string `json:"code,omitempty"`
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
	d, err := eng.Evaluate(preq)
	if err != nil {
		s.fail(ctx, w, r, span, "evaluation", requestError(err))
		return
	}
	s.record(ctx, span, "evaluation", preq, d, start)
	httpx.WriteJSON(w, http.StatusOK, s.decision(d))
}

// decision renders an engine decision.
func (s *Server) decision(d pdp.Decision) Decision {
	dc := &DecisionContext{DecisionID: d.ID, Revision: d.Revision, Reason: reason(d)}
	if !s.opts.HidePolicies {
		dc.Policies = d.Reasons
	}
	return Decision{Decision: d.Allowed, Context: dc}
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

func (s *Server) startSpan(r *http.Request, name string) (context.Context, trace.Span) {
	ctx := s.opts.Propagator.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
	return s.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attribute.String("http.request.method", r.Method), attribute.String("url.path", r.URL.Path)))
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
	if status >= 500 {
		s.opts.Log.ErrorContext(ctx, "request failed", "request_id", httpx.RequestID(r), "status", status, "error", err)
	} else {
		s.opts.Log.DebugContext(ctx, "bad request", "request_id", httpx.RequestID(r), "status", status, "error", err)
	}
	httpx.WriteError(w, r, err)
}

// record adds a decision to the span, the metrics and the debug log.
func (s *Server) record(ctx context.Context, span trace.Span, endpoint string, req *pdp.Request, d pdp.Decision, start time.Time) {
	s.metrics.decision(ctx, endpoint, d.Allowed, time.Since(start))
	if span.IsRecording() {
		span.SetAttributes(
			attribute.String("agentguard.decision_id", d.ID),
			attribute.Bool("agentguard.decision", d.Allowed),
			attribute.StringSlice("agentguard.policies", d.Reasons),
			attribute.String("agentguard.bundle_revision", d.Revision),
			attribute.String("agentguard.subject", req.Subject.Type+":"+req.Subject.ID),
			attribute.String("agentguard.action", req.Action.Name),
			attribute.String("agentguard.resource", req.Resource.Type+":"+req.Resource.ID),
		)
	}
	if s.opts.Log.Enabled(ctx, slog.LevelDebug) {
		s.opts.Log.DebugContext(ctx, "decision", "decision_id", d.ID, "allowed", d.Allowed, "policies", d.Reasons,
			"subject", req.Subject.Type+":"+req.Subject.ID, "action", req.Action.Name, "resource", req.Resource.Type+":"+req.Resource.ID,
			"revision", d.Revision)
	}
}
