package authzen

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/agentguard/agentguard/internal/httpx"
	"github.com/agentguard/agentguard/pdp"
	"github.com/agentguard/agentguard/pdp/grants"
)

// Task is a Task Handle (ARAP §Access Request Response).
type Task struct {
	ID             string            `json:"id"`
	Status         grants.Status     `json:"status"`
	StatusEndpoint string            `json:"status_endpoint"`
	ExpiresAt      string            `json:"expires_at,omitempty"`
	Links          map[string]string `json:"links,omitempty"`
}

// TaskResponse is the body of the access request endpoints. Request is
// agentguard's extension: what was asked, by whom, and its history.
type TaskResponse struct {
	Task    Task            `json:"task"`
	Result  *Result         `json:"result,omitempty"`
	Request *grants.Request `json:"request,omitempty"`
}

// Result is a completion result in re-evaluation mode (ARAP §Completion
// Semantics).
type Result struct {
	Mode     string         `json:"mode"`
	Approval ResultApproval `json:"approval"`
}

// ResultApproval identifies the approval to carry into re-evaluation.
type ResultApproval struct {
	ID            string `json:"id"`
	ApprovedAt    string `json:"approved_at,omitempty"`
	ApprovedUntil string `json:"approved_until"`
}

func (s *Server) taskResponse(r *http.Request, g *grants.Request) TaskResponse {
	base := strings.TrimSuffix(s.opts.BaseURL, "/")
	if base == "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		base = scheme + "://" + r.Host
	}
	status := base + PathRequests + "/" + g.ID
	t := TaskResponse{
		Task: Task{ID: g.ID, Status: g.Status, StatusEndpoint: status, ExpiresAt: g.ExpiresAt.Format(time.RFC3339)},
		// The stored request minus what only the store needs.
		Request: func() *grants.Request {
			c := g.Clone()
			c.BodyHash, c.IdempotencyKey, c.Version = "", "", ""
			return c
		}(),
	}
	if g.Status == grants.StatusPending {
		t.Task.Links = map[string]string{"cancel": status + "/cancel"}
	}
	if g.Status == grants.StatusApproved {
		t.Result = &Result{Mode: "reevaluate", Approval: ResultApproval{
			ID: g.ID, ApprovedAt: g.ApprovedAt.Format(time.RFC3339), ApprovedUntil: g.ApprovedUntil.Format(time.RFC3339),
		}}
	}
	return t
}

// writeProblem answers with an RFC 9457 problem, or a plain JSON error.
func writeProblem(w http.ResponseWriter, r *http.Request, err error) {
	var p *grants.Problem
	if errors.As(err, &p) {
		w.Header().Set("Content-Type", "application/problem+json")
		if p.Status == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", "5")
		}
		w.WriteHeader(p.Status)
		_ = json.NewEncoder(w).Encode(p)
		return
	}
	httpx.WriteError(w, r, err)
}

func (s *Server) accessCaller(w http.ResponseWriter, r *http.Request) (*pdp.Engine, grants.Caller, bool) {
	eng, err := s.engine()
	if err != nil {
		writeProblem(w, r, err)
		return nil, grants.Caller{}, false
	}
	id := caller(r)
	if id == nil {
		writeProblem(w, r, httpx.Errorf(http.StatusUnauthorized, "the access request API needs an authenticated caller"))
		return nil, grants.Caller{}, false
	}
	return eng, grantsCaller(eng, id), true
}

// handleSubmit is POST /access/v1/requests.
func (s *Server) handleSubmit(w http.ResponseWriter, r *http.Request) {
	_, c, ok := s.accessCaller(w, r)
	if !ok {
		return
	}
	body, err := httpx.ReadJSONBody(w, r, s.opts.MaxBodyBytes)
	if err != nil {
		writeProblem(w, r, err)
		return
	}
	var sub grants.Submission
	if err := decode(body, &sub); err != nil {
		writeProblem(w, r, err)
		return
	}
	for field, missing := range map[string]bool{
		"subject": sub.Subject.Type == "" || sub.Subject.ID == "", "action": sub.Action.Name == "",
		"resource": sub.Resource.Type == "" || sub.Resource.ID == "",
	} {
		if missing {
			writeProblem(w, r, httpx.Errorf(http.StatusBadRequest, "%s: required", field))
			return
		}
	}
	if err := checkObject("context", sub.Context); err != nil {
		writeProblem(w, r, err)
		return
	}
	key := r.Header.Get("Idempotency-Key")
	if len(key) > 256 {
		writeProblem(w, r, httpx.Errorf(http.StatusBadRequest, "Idempotency-Key longer than 256 bytes"))
		return
	}
	g, _, err := s.opts.Grants.Submit(r.Context(), c, &sub, key)
	if err != nil {
		writeProblem(w, r, err)
		return
	}
	resp := s.taskResponse(r, g)
	w.Header().Set("Location", resp.Task.StatusEndpoint)
	status := http.StatusAccepted
	if g.Status.Terminal() || g.Status == grants.StatusApproved {
		status = http.StatusCreated
	}
	httpx.WriteJSON(w, status, resp)
}

// handleGetRequest is GET /access/v1/requests/{id}.
func (s *Server) handleGetRequest(w http.ResponseWriter, r *http.Request) {
	_, c, ok := s.accessCaller(w, r)
	if !ok {
		return
	}
	g, err := s.opts.Grants.Get(r.Context(), c, r.PathValue("id"))
	if err != nil {
		writeProblem(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, s.taskResponse(r, g))
}

// transitionBody is the optional body of approve, deny, cancel and revoke.
type transitionBody struct {
	Reason  string `json:"reason"`
	Comment string `json:"comment"`
}

func readTransition(w http.ResponseWriter, r *http.Request, limit int64) (string, error) {
	if r.ContentLength == 0 {
		return "", nil
	}
	body, err := httpx.ReadJSONBody(w, r, limit)
	if err != nil {
		var he *httpx.Error
		if errors.As(err, &he) && he.Status == http.StatusMethodNotAllowed {
			return "", nil // DELETE .../cancel carries no body
		}
		return "", err
	}
	var b transitionBody
	if err := decode(body, &b); err != nil {
		return "", err
	}
	return strings.TrimSpace(b.Reason + " " + b.Comment), nil
}

// handleTransition is POST /access/v1/requests/{id}/{approve|deny|cancel}
// (and DELETE .../cancel).
func (s *Server) handleTransition(w http.ResponseWriter, r *http.Request) {
	_, c, ok := s.accessCaller(w, r)
	if !ok {
		return
	}
	op := r.PathValue("op")
	if r.Method == http.MethodDelete {
		op = "cancel"
	}
	var f func(ctx context.Context, c grants.Caller, id, reason string) (*grants.Request, error)
	switch op {
	case "approve":
		f = s.opts.Grants.Approve
	case "deny":
		f = s.opts.Grants.Deny
	case "cancel":
		f = s.opts.Grants.Cancel
	default:
		writeProblem(w, r, httpx.Errorf(http.StatusNotFound, "no such operation %q: use approve, deny or cancel", op))
		return
	}
	why, err := readTransition(w, r, s.opts.MaxBodyBytes)
	if err != nil {
		writeProblem(w, r, err)
		return
	}
	g, err := f(r.Context(), c, r.PathValue("id"), why)
	if err != nil {
		writeProblem(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, s.taskResponse(r, g))
}

// handleRevoke is POST /access/v1/grants/{id}/revoke.
func (s *Server) handleRevoke(w http.ResponseWriter, r *http.Request) {
	_, c, ok := s.accessCaller(w, r)
	if !ok {
		return
	}
	why, err := readTransition(w, r, s.opts.MaxBodyBytes)
	if err != nil {
		writeProblem(w, r, err)
		return
	}
	g, err := s.opts.Grants.Revoke(r.Context(), c, r.PathValue("id"), why)
	if err != nil {
		writeProblem(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, s.taskResponse(r, g))
}

// GrantList is the body of GET /access/v1/grants.
type GrantList struct {
	Grants []*grants.Request `json:"grants"`
}

// handleListGrants is GET /access/v1/grants[?agent=ns/sa][&status=...]:
// active grants by default; status=all or a status name widens it.
func (s *Server) handleListGrants(w http.ResponseWriter, r *http.Request) {
	eng, c, ok := s.accessCaller(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	f := grants.Filter{}
	if a := q.Get("agent"); a != "" {
		f.Principal = grants.UID{Type: "Agent", ID: a}.String()
	}
	status := q.Get("status")
	switch status {
	case "", "active":
		f.Status = []grants.Status{grants.StatusApproved}
	case "all":
	case string(grants.StatusPending), string(grants.StatusApproved), string(grants.StatusDenied),
		string(grants.StatusExpired), string(grants.StatusCancelled), string(grants.StatusRevoked):
		f.Status = []grants.Status{grants.Status(status)}
	default:
		writeProblem(w, r, httpx.Errorf(http.StatusBadRequest, "status: %q is not active, all or a task status", status))
		return
	}
	rs, err := s.opts.Grants.List(r.Context(), c, f)
	if err != nil {
		writeProblem(w, r, err)
		return
	}
	now := eng.Now()
	out := GrantList{Grants: []*grants.Request{}}
	for _, g := range rs {
		if (status == "" || status == "active") && !g.Active(now) {
			continue
		}
		g.BodyHash, g.IdempotencyKey, g.Version = "", "", ""
		out.Grants = append(out.Grants, g)
	}
	httpx.WriteJSON(w, http.StatusOK, out)
}
