package conformance

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

func checkJITGrants(ctx context.Context, s *session, r *record) {
	if !s.needPDP(r) {
		return
	}
	p := s.profile.PDP
	tool := p.GrantableTool
	a, ok := s.decide(ctx, r, "call of "+tool+" before any grant", tool, false)
	if !ok {
		return
	}
	c := a.context()
	hint, _ := c["access_request"].(map[string]any)
	if hint == nil {
		r.finding("the denial of "+tool+" carries no access_request (it is not requestable)", a.req, a.response())
		return
	}
	r.ok("the denial of "+tool+" carries an access_request", "", toJSON(hint))

	until := s.now().Add(p.GrantTTL.Duration).UTC()
	sub := map[string]any{
		"subject":          map[string]any{"type": p.Caller.Subject.Type, "id": p.Caller.Subject.ID},
		"action":           map[string]any{"name": p.Action},
		"resource":         map[string]any{"type": p.ResourceType, "id": tool},
		"context":          map[string]any{"task": "agconf-" + s.nonce, "justification": "agentguard conformance run " + s.nonce},
		"requested_access": map[string]any{"requested_until": until.Format(time.RFC3339Nano)},
		"denial":           map[string]any{"evaluation_id": c["evaluation_id"], "binding_token": hint["binding_token"], "expires_at": hint["expires_at"]},
	}
	a, err := s.post(ctx, pathRequests, s.opts.PDPToken, sub)
	if err != nil {
		r.errorf("%v", err)
		return
	}
	if a.status != http.StatusAccepted && a.status != http.StatusOK && a.status != http.StatusCreated {
		r.finding(fmt.Sprintf("access request for %s for %s: HTTP %d", tool, p.GrantTTL.Duration, a.status), a.req, a.response())
		return
	}
	task, _ := a.body["task"].(map[string]any)
	id, _ := task["id"].(string)
	status, _ := task["status"].(string)
	if id == "" {
		r.finding("access request answer has no task id", a.req, a.response())
		return
	}
	r.ok(fmt.Sprintf("access request %s accepted (status %s)", id, status), a.req, a.response())

	self, err := s.post(ctx, pathRequests+"/"+id+"/approve", s.opts.PDPToken, map[string]any{"reason": "self-approval probe"})
	if err != nil {
		r.errorf("%v", err)
		return
	}
	if self.status == http.StatusForbidden || self.status == http.StatusNotFound || (status == "approved" && self.status == http.StatusConflict) {
		r.ok(fmt.Sprintf("the agent cannot approve its own request (HTTP %d)", self.status), self.req, self.response())
	} else {
		r.finding(fmt.Sprintf("the agent approving its own request: HTTP %d, want 403", self.status), self.req, self.response())
	}

	if status == "pending" {
		if s.opts.ApproverToken == "" {
			r.skip("grant use and expiry: the grant needs a human approver (set pdp.approver.tokenFile)")
			return
		}
		ap, err := s.post(ctx, pathRequests+"/"+id+"/approve", s.opts.ApproverToken, map[string]any{"reason": "agentguard conformance run " + s.nonce})
		if err != nil {
			r.errorf("%v", err)
			return
		}
		if ap.status != http.StatusOK {
			r.errorf("the approver could not approve %s (HTTP %d); check pdp.approver", id, ap.status)
			r.info("approval by the profile's approver", ap.req, ap.response())
			return
		}
		r.info("approved by the profile's approver", ap.req, ap.response())
	} else if status != "approved" {
		r.finding("access request "+id+" ended "+status+" instead of pending or approved", "", a.response())
		return
	}

	got, allowed, err := s.waitDecision(ctx, tool, true, 15*time.Second)
	if err != nil {
		r.errorf("%v", err)
		return
	}
	if !allowed {
		r.finding("the approved grant does not lift the denial within 15s", got.req, got.response())
		return
	}
	r.ok("the approved grant lifts the denial", got.req, got.response())

	wait := time.Until(until) + p.ClockSkew.Duration
	select {
	case <-ctx.Done():
		r.errorf("run cancelled: %v", ctx.Err())
		return
	case <-time.After(wait):
	}
	got, err = s.post(ctx, pathEvaluation, s.opts.PDPToken, s.evalBody(p.Caller.Subject, tool, nil))
	if err != nil {
		r.errorf("%v", err)
		return
	}
	if d, ok := got.decision(); ok && !d {
		r.ok(fmt.Sprintf("after approved_until plus %s clock skew the grant no longer allows", p.ClockSkew.Duration), got.req, got.response())
	} else {
		r.finding(fmt.Sprintf("the grant still allows %s after approved_until plus %s", tool, p.ClockSkew.Duration), got.req, got.response())
	}
	r.skip("task binding (task X allowed, task Y denied)", "release at task end", "TTL above the policy maximum", "audit records per grant event")
}
