package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/cedar-policy/cedar-go/types"

	"github.com/agentguard/agentguard/pdp"
	"github.com/agentguard/agentguard/pdp/authzen"
)

// postJSON posts body as JSON with a bearer token and decodes the answer
// into out (if not nil).
func postJSON(ctx context.Context, url, token string, body, out any) (*http.Response, error) {
	data, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := httpc.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return resp, err
	}
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(raw, out); err != nil {
			return resp, fmt.Errorf("%s: %w", url, err)
		}
	}
	if resp.StatusCode >= 300 {
		return resp, fmt.Errorf("%s: %s: %s", url, resp.Status, bytes.TrimSpace(raw))
	}
	return resp, nil
}

// evaluation is the part of an AuthZEN decision the harness reads.
type evaluation struct {
	Decision bool `json:"decision"`
	Context  struct {
		EvaluationID  string `json:"evaluation_id"`
		AccessRequest *struct {
			BindingToken string `json:"binding_token"`
			ExpiresAt    string `json:"expires_at"`
		} `json:"access_request"`
	} `json:"context"`
}

// accessRequest asks base for a grant the way an agent does after a
// requestable denial: evaluate, then submit with requested_until. It
// returns the HTTP answer of the submission (for the apiserver fault,
// which wants a 503) and the task id.
func accessRequest(ctx context.Context, base, token string, req pdp.Request, until time.Time) (*http.Response, string, error) {
	var ev evaluation
	if _, err := postJSON(ctx, base+authzen.PathEvaluation, token, req, &ev); err != nil {
		return nil, "", err
	}
	if ev.Decision || ev.Context.AccessRequest == nil {
		return nil, "", fmt.Errorf("%s on %s: want a requestable denial, got decision %v", req.Subject.ID, req.Resource.ID, ev.Decision)
	}
	c := map[string]any{}
	if len(req.Context) > 0 {
		if err := json.Unmarshal(req.Context, &c); err != nil {
			return nil, "", err
		}
	}
	c["justification"] = "hack/chaos-pdp"
	sub := map[string]any{
		"subject": req.Subject, "action": req.Action, "resource": req.Resource, "context": c,
		"requested_access": map[string]any{"requested_until": until.UTC().Format(time.RFC3339)},
		"denial": map[string]any{
			"evaluation_id": ev.Context.EvaluationID, "binding_token": ev.Context.AccessRequest.BindingToken,
			"expires_at": ev.Context.AccessRequest.ExpiresAt,
		},
	}
	var task struct {
		Task struct {
			ID string `json:"id"`
		} `json:"task"`
	}
	resp, err := postJSON(ctx, base+authzen.PathRequests, token, sub, &task)
	if err != nil {
		return resp, "", err
	}
	return resp, task.Task.ID, nil
}

// grant gets req granted until `until` through replica base: an access
// request, approved automatically or, with approverToken, by that
// approver. The oracle learns the grant before it is submitted, so no
// allow the PDP gives for it can precede the oracle's.
func grant(ctx context.Context, o *oracle, base, token, approverToken string, req pdp.Request, task string, until time.Time) (string, error) {
	placeholder := fmt.Sprintf("pending-%s-%d", req.Resource.ID, until.UnixNano())
	o.grants.Put(pdp.Grant{
		ID:        placeholder,
		Principal: types.NewEntityUID("Agent", types.String(req.Subject.ID)),
		Action:    types.NewEntityUID("Action", types.String(req.Action.Name)),
		Resource:  types.NewEntityUID("Tool", types.String(req.Resource.ID)),
		Until:     until,
		Task:      task,
	})
	_, id, err := accessRequest(ctx, base, token, req, until)
	if err == nil && approverToken != "" {
		_, err = postJSON(ctx, base+authzen.PathRequests+"/"+id+"/approve", approverToken, map[string]string{"reason": "hack/chaos-pdp"}, nil)
	}
	if err != nil {
		o.grants.Delete(placeholder)
		return "", fmt.Errorf("grant %s to %s: %w", req.Resource.ID, req.Subject.ID, err)
	}
	return id, nil
}

// decide asks base directly (not through a client) whether req is allowed.
func decide(ctx context.Context, base, token string, req pdp.Request) (bool, error) {
	var ev evaluation
	_, err := postJSON(ctx, base+authzen.PathEvaluation, token, req, &ev)
	return ev.Decision, err
}
