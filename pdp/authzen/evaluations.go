package authzen

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/agentguard/agentguard/internal/httpx"
)

// Evaluation semantics (§7.1.2).
const (
	ExecuteAll          = "execute_all"
	DenyOnFirstDeny     = "deny_on_first_deny"
	PermitOnFirstPermit = "permit_on_first_permit"
)

// MaxEvaluations bounds one evaluations array.
const MaxEvaluations = 1000

// evaluationsRequest is the Access Evaluations request body (§7.1).
type evaluationsRequest struct {
	evaluationRequest
	Evaluations []evaluationRequest `json:"evaluations"`
	Options     struct {
		EvaluationsSemantic string `json:"evaluations_semantic"`
	} `json:"options"`
}

// evaluationsResponse is the Access Evaluations response (§7.2).
type evaluationsResponse struct {
	Evaluations []Decision `json:"evaluations"`
}

func (s *Server) handleEvaluations(w http.ResponseWriter, r *http.Request) {
	ctx, span := s.startSpan(r, "authzen.evaluations")
	defer span.End()
	start := time.Now()

	body, err := httpx.ReadJSONBody(w, r, s.opts.MaxBodyBytes)
	if err != nil {
		s.fail(ctx, w, r, span, "evaluations", err)
		return
	}
	var req evaluationsRequest
	if err := decode(body, &req); err != nil {
		s.fail(ctx, w, r, span, "evaluations", err)
		return
	}
	sem := req.Options.EvaluationsSemantic
	switch sem {
	case "":
		sem = ExecuteAll
	case ExecuteAll, DenyOnFirstDeny, PermitOnFirstPermit:
	default:
		s.fail(ctx, w, r, span, "evaluations", httpx.Errorf(http.StatusBadRequest,
			"options.evaluations_semantic: %q is not one of %s, %s, %s", sem, ExecuteAll, DenyOnFirstDeny, PermitOnFirstPermit))
		return
	}
	eng, err := s.engine()
	if err != nil {
		s.fail(ctx, w, r, span, "evaluations", err)
		return
	}

	// Without an evaluations array the request is a single evaluation and
	// the response a single decision (§7.1, backwards compatibility).
	id := caller(r)
	if len(req.Evaluations) == 0 {
		preq, err := req.request("")
		if err == nil {
			out, evalErr := s.evaluate(ctx, eng, id, preq)
			if err = evalErr; err == nil {
				s.record(ctx, span, "evaluations", preq, out.d, start)
				writeDecisions(w, &out.resp)
				return
			}
		}
		s.fail(ctx, w, r, span, "evaluations", err)
		return
	}
	if len(req.Evaluations) > MaxEvaluations {
		s.fail(ctx, w, r, span, "evaluations", httpx.Errorf(http.StatusRequestEntityTooLarge,
			"evaluations: %d entries, at most %d allowed", len(req.Evaluations), MaxEvaluations))
		return
	}

	// Every entry must have subject, action and resource, its own or the
	// default: that is a fault of the whole payload (§7.1.1).
	reqs := make([]evaluationRequest, len(req.Evaluations))
	for i, ev := range req.Evaluations {
		reqs[i] = withDefaults(ev, req.evaluationRequest)
		if _, err := reqs[i].request(fmt.Sprintf("evaluations[%d].", i)); err != nil {
			s.fail(ctx, w, r, span, "evaluations", err)
			return
		}
	}

	resp := evaluationsResponse{Evaluations: make([]Decision, 0, len(reqs))}
	for i := range reqs {
		preq, _ := reqs[i].request("")
		ev, err := s.evaluate(ctx, eng, id, preq)
		var out Decision
		if err != nil {
			// An error in one evaluation is reported in its place, as a
			// denial (§7.2 Errors); it is the caller's fault only when the
			// engine says so.
			status, msg := http.StatusInternalServerError, "internal error"
			var he *httpx.Error
			if errors.As(err, &he) {
				status, msg = he.Status, he.Message
			}
			s.metrics.errors(ctx, "evaluations", status)
			out = Decision{Decision: false, Context: &DecisionContext{Error: &EvalError{Status: status, Message: msg}}}
		} else {
			s.record(ctx, span, "evaluations", preq, ev.d, start)
			out = ev.resp
		}
		stop := (sem == DenyOnFirstDeny && !out.Decision) || (sem == PermitOnFirstPermit && out.Decision)
		if stop && sem == DenyOnFirstDeny {
			out.Context.Code = "200"
			if out.Context.Error == nil {
				out.Context.ReasonAdmin = &Localized{En: DenyOnFirstDeny + ": " + out.Context.ReasonAdmin.En}
			}
		}
		resp.Evaluations = append(resp.Evaluations, out)
		if stop {
			break
		}
	}
	writeDecisions(w, &resp)
}

// withDefaults fills ev's missing members from the top-level defaults.
func withDefaults(ev, def evaluationRequest) evaluationRequest {
	if ev.Subject == nil {
		ev.Subject = def.Subject
	}
	if ev.Action == nil {
		ev.Action = def.Action
	}
	if ev.Resource == nil {
		ev.Resource = def.Resource
	}
	if len(ev.Context) == 0 {
		ev.Context = def.Context
	}
	return ev
}
