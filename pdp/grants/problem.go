package grants

import (
	"fmt"
	"net/http"
)

// Problem types of the Access Request profile (ARAP §Error Responses) and
// agentguard's own.
const (
	ProblemNotRequestable   = "urn:openid:authzen:access-request:error:not_requestable"
	ProblemExpiredDenial    = "urn:openid:authzen:access-request:error:expired_denial"
	ProblemInvalidBinding   = "urn:openid:authzen:access-request:error:invalid_denial_binding"
	ProblemDuplicateRequest = "urn:openid:authzen:access-request:error:duplicate_request"
	ProblemUnknownTask      = "urn:openid:authzen:access-request:error:unknown_task"
	ProblemTaskExpired      = "urn:openid:authzen:access-request:error:task_expired"
	ProblemInvalidTaskState = "urn:openid:authzen:access-request:error:invalid_task_state"
	ProblemForbidden        = "urn:agentguard:access-request:error:forbidden"
	ProblemBadRequest       = "urn:agentguard:access-request:error:bad_request"
	ProblemUnavailable      = "urn:agentguard:access-request:error:store_unavailable"
)

// Problem is an RFC 9457 problem: the HTTP layer writes it as
// application/problem+json.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
}

func (p *Problem) Error() string { return p.Detail }

func problem(typ string, status int, title, format string, args ...any) *Problem {
	return &Problem{Type: typ, Status: status, Title: title, Detail: fmt.Sprintf(format, args...)}
}

func forbidden(format string, args ...any) *Problem {
	return problem(ProblemForbidden, http.StatusForbidden, "Not allowed", format, args...)
}

func badSubmission(format string, args ...any) *Problem {
	return problem(ProblemBadRequest, http.StatusBadRequest, "Bad access request", format, args...)
}

func unknownTask(id string) *Problem {
	return problem(ProblemUnknownTask, http.StatusNotFound, "Unknown task", "no access request %q for this caller", id)
}

func invalidState(r *Request, op string) *Problem {
	return problem(ProblemInvalidTaskState, http.StatusConflict, "Invalid task state", "cannot %s access request %s: it is %s", op, r.ID, r.Status)
}
