package conformance

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
)

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}

// PDP API paths (AuthZEN 1.0 and the Access Request profile).
const (
	pathEvaluation = "/access/v1/evaluation"
	pathRequests   = "/access/v1/requests"
)

// pdpAnswer is one PDP HTTP exchange.
type pdpAnswer struct {
	status int
	body   map[string]any
	raw    string
	req    string
}

func (a pdpAnswer) decision() (bool, bool) {
	d, ok := a.body["decision"].(bool)
	return d, ok
}

func (a pdpAnswer) context() map[string]any {
	c, _ := a.body["context"].(map[string]any)
	return c
}

// post sends body to the PDP with token ("" sends no credential).
func (s *session) post(ctx context.Context, path, token string, body any) (pdpAnswer, error) {
	data, err := json.Marshal(body)
	if err != nil {
		return pdpAnswer{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.opts.PDPURL+path, bytes.NewReader(data))
	if err != nil {
		return pdpAnswer{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	how := "without a bearer token"
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
		how = "with the probe identity's bearer token (redacted)"
	}
	a := pdpAnswer{req: fmt.Sprintf("POST %s (%s)\n%s", path, how, data)}
	resp, err := s.http.Do(req)
	if err != nil {
		return a, fmt.Errorf("POST %s%s: %w", s.opts.PDPURL, path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	a.status, a.raw = resp.StatusCode, string(raw)
	_ = json.Unmarshal(raw, &a.body)
	return a, nil
}

func (a pdpAnswer) response() string { return fmt.Sprintf("HTTP %d\n%s", a.status, a.raw) }

// evalBody is an AuthZEN evaluation request for the probe caller.
func (s *session) evalBody(subject Subject, tool string, extra map[string]any) map[string]any {
	p := s.profile.PDP
	ctx := map[string]any{"task": "agconf-" + s.nonce}
	for k, v := range extra {
		ctx[k] = v
	}
	return map[string]any{
		"subject":  map[string]any{"type": subject.Type, "id": subject.ID},
		"action":   map[string]any{"name": p.Action},
		"resource": map[string]any{"type": p.ResourceType, "id": tool},
		"context":  ctx,
	}
}

func checkCallerAuthentication(ctx context.Context, s *session, r *record) {
	if !s.needPDP(r) {
		return
	}
	p := s.profile.PDP
	own := s.evalBody(p.Caller.Subject, p.AllowedTool, nil)
	a, err := s.post(ctx, pathEvaluation, s.opts.PDPToken, own)
	if err != nil {
		r.errorf("%v", err)
		return
	}
	if a.status != http.StatusOK {
		r.errorf("the probe token is not accepted for its own subject %s (HTTP %d); fix the profile's pdp.caller or the token", p.Caller.Subject.ID, a.status)
		r.info("the caller's own request", a.req, a.response())
		return
	}
	r.info("control: the probe caller's token is accepted for its own subject", a.req, a.response())
	for _, c := range []struct {
		step, token string
	}{
		{"request without a credential", ""},
		{"request with a made-up bearer token", "agconf-invalid-" + s.nonce},
	} {
		a, err := s.post(ctx, pathEvaluation, c.token, own)
		if err != nil {
			r.errorf("%v", err)
			return
		}
		if a.status == http.StatusUnauthorized {
			r.ok(c.step+": rejected with 401", a.req, a.response())
		} else {
			r.finding(fmt.Sprintf("%s: answered HTTP %d, want 401", c.step, a.status), a.req, a.response())
		}
	}
	spoof := s.evalBody(p.SpoofSubject, p.AllowedTool, nil)
	a, err = s.post(ctx, pathEvaluation, s.opts.PDPToken, spoof)
	if err != nil {
		r.errorf("%v", err)
		return
	}
	switch a.status {
	case http.StatusForbidden, http.StatusUnauthorized:
		r.ok(fmt.Sprintf("%s's token naming subject %s: refused with %d", p.Caller.Subject.ID, p.SpoofSubject.ID, a.status), a.req, a.response())
	default:
		r.finding(fmt.Sprintf("%s's token naming subject %s: answered HTTP %d, want a refusal (the PDP took the subject on the caller's word)", p.Caller.Subject.ID, p.SpoofSubject.ID, a.status), a.req, a.response())
	}
	r.skip("SPIFFE X.509-SVIDs: untrusted trust domain and expired SVID")
}

// decide evaluates tool for the probe caller and records the outcome.
func (s *session) decide(ctx context.Context, r *record, step, tool string, want bool) (pdpAnswer, bool) {
	a, err := s.post(ctx, pathEvaluation, s.opts.PDPToken, s.evalBody(s.profile.PDP.Caller.Subject, tool, nil))
	if err != nil {
		r.errorf("%v", err)
		return a, false
	}
	got, ok := a.decision()
	switch {
	case a.status == http.StatusOK && ok && got == want:
		r.ok(fmt.Sprintf("%s: decision %v", step, got), a.req, a.response())
	case a.status == http.StatusOK && ok:
		r.finding(fmt.Sprintf("%s: decision %v, want %v", step, got, want), a.req, a.response())
	case !want && a.status == http.StatusBadRequest:
		r.ok(step+": refused as a bad request (400), which denies the call", a.req, a.response())
	default:
		r.finding(fmt.Sprintf("%s: HTTP %d without a decision", step, a.status), a.req, a.response())
	}
	return a, true
}

func checkToolScoping(ctx context.Context, s *session, r *record) {
	if !s.needPDP(r) {
		return
	}
	p := s.profile.PDP
	if _, ok := s.decide(ctx, r, "authorised call of "+p.AllowedTool, p.AllowedTool, true); !ok {
		return
	}
	for _, t := range p.DeniedTools {
		if _, ok := s.decide(ctx, r, "unauthorised call of "+t, t, false); !ok {
			return
		}
	}
	r.skip("bundle lint for server-wide or wildcard tool grants", "the same tool on another MCP server")
}

func checkExplainedDecisions(ctx context.Context, s *session, r *record) {
	if !s.needPDP(r) {
		return
	}
	p := s.profile.PDP
	tools := append([]string{p.AllowedTool}, p.DeniedTools...)
	for _, t := range tools {
		a, err := s.post(ctx, pathEvaluation, s.opts.PDPToken, s.evalBody(p.Caller.Subject, t, nil))
		if err != nil {
			r.errorf("%v", err)
			return
		}
		d, ok := a.decision()
		if a.status != http.StatusOK || !ok {
			r.info(fmt.Sprintf("call of %s: HTTP %d, no decision to inspect", t, a.status), a.req, a.response())
			continue
		}
		c := a.context()
		reason, _ := c["reason"].(string)
		admin, _ := c["reason_admin"].(map[string]any)
		text, _ := admin["en"].(string)
		pols, _ := c["policies"].([]any)
		var missing []string
		if reason == "" {
			missing = append(missing, "a reason code")
		}
		if text == "" {
			missing = append(missing, "a plain-language reason (reason_admin)")
		}
		if d && len(pols) == 0 {
			missing = append(missing, "the determining policy ids")
		}
		if !d && len(pols) == 0 && reason != "not_permitted" {
			missing = append(missing, "either the determining policies or the not_permitted reason")
		}
		if len(missing) > 0 {
			r.finding(fmt.Sprintf("decision on %s lacks %v", t, missing), a.req, a.response())
		} else {
			r.ok(fmt.Sprintf("decision %v on %s explains itself: %s", d, t, text), a.req, a.response())
		}
	}
	if s.kube != nil {
		s.runProbes(ctx, r, []probe{{step: "webhook denial names the control and how to fix it", ns: nsTenant,
			pod: s.compliantPod("obs010", func(p *corev1.Pod) { csc(p).AllowPrivilegeEscalation = ptrTo(true) }), deny: "AG-GEN-001"}})
		if n := len(r.evidence); n > 0 && r.evidence[n-1].Outcome == EvidenceOK && !containsFold(r.evidence[n-1].Response, "fix") {
			r.evidence[n-1].Outcome = EvidenceFinding
			r.evidence[n-1].Step = "webhook denial names the control but does not say how to fix the object"
		}
	} else {
		r.skip("webhook denial messages (no cluster given)")
	}
	r.skip("sample of 100 records from the decision log", "readability (manual)")
}

// waitDecision polls until the caller's decision on tool is want or the
// deadline passes.
func (s *session) waitDecision(ctx context.Context, tool string, want bool, within time.Duration) (pdpAnswer, bool, error) {
	deadline := time.Now().Add(within)
	for {
		a, err := s.post(ctx, pathEvaluation, s.opts.PDPToken, s.evalBody(s.profile.PDP.Caller.Subject, tool, nil))
		if err != nil {
			return a, false, err
		}
		if d, ok := a.decision(); ok && d == want {
			return a, true, nil
		}
		if time.Now().After(deadline) {
			return a, false, nil
		}
		select {
		case <-ctx.Done():
			return a, false, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}
