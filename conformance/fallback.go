package conformance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/cedar-policy/cedar-go/types"

	"github.com/agentguard/agentguard/pdp"
	"github.com/agentguard/agentguard/pdp/client"
)

// partition is an HTTP transport the suite can cut, to simulate losing
// the PDP after the client has talked to it.
type partition struct {
	base http.RoundTripper
	cut  atomic.Bool
}

var errPartition = errors.New("conformance: simulated network partition")

func (p *partition) RoundTrip(r *http.Request) (*http.Response, error) {
	if p.cut.Load() {
		return nil, errPartition
	}
	return p.base.RoundTrip(r)
}

// closedURL returns an http URL on a loopback port nothing listens on.
func closedURL() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		return "", err
	}
	return "http://" + addr, nil
}

func (s *session) needBundle(r *record) *pdp.Engine {
	eng, err := s.engine()
	if errors.Is(err, errNoBundle) {
		r.manual("no local copy of the policy bundle given (profile bundle: or --bundle); the fallback declaration is read from it")
		return nil
	}
	if err != nil {
		r.errorf("load bundle %s: %v", s.profile.Bundle, err)
		return nil
	}
	return eng
}

func (s *session) toolRequest(tool, task string) *pdp.Request {
	p := s.profile.PDP
	ctx, _ := json.Marshal(map[string]string{"task": task})
	return &pdp.Request{
		Subject:  pdp.Entity{Type: p.Caller.Subject.Type, ID: p.Caller.Subject.ID},
		Action:   pdp.Action{Name: p.Action},
		Resource: pdp.Entity{Type: p.ResourceType, ID: tool},
		Context:  ctx,
	}
}

func checkFallback(ctx context.Context, s *session, r *record) {
	eng := s.needBundle(r)
	if eng == nil {
		return
	}
	p := s.profile.PDP
	tools := append(append([]string{}, p.FallbackTools...), "agconf/unlisted-"+s.nonce)
	tr := &partition{base: http.DefaultTransport}
	if s.http.Transport != nil {
		tr.base = s.http.Transport
	}
	live := s.opts.PDPURL != "" && s.opts.PDPToken != ""
	base := s.opts.PDPURL
	if !live {
		u, err := closedURL()
		if err != nil {
			r.errorf("find a closed port: %v", err)
			return
		}
		base = u
		r.skip("warm-cache behaviour (needs --pdp and a token: cached-mode tools are then allowed only for tuples the PDP allowed before the cut)")
	}
	cl, err := client.New(client.Options{
		BaseURL: base, HTTPClient: &http.Client{Transport: tr}, Token: client.StaticToken(s.opts.PDPToken),
		Policy: func() *pdp.Engine { return eng }, Timeout: 2 * time.Second, BreakerOpenFor: time.Minute,
	})
	if err != nil {
		r.errorf("PEP client: %v", err)
		return
	}
	defer func() { _ = cl.Close() }()
	task := "agconf-" + s.nonce
	allowedBefore := map[string]bool{}
	if live {
		for _, t := range tools {
			d, err := cl.Evaluate(ctx, s.toolRequest(t, task))
			if err != nil {
				var re *client.RequestError
				if errors.As(err, &re) {
					r.info("warm-up call of "+t+" refused by the PDP", "", err.Error())
					continue
				}
				r.errorf("warm-up call of %s: %v", t, err)
				return
			}
			if d.Source != client.SourcePDP {
				r.errorf("warm-up call of %s was answered by the fallback (%s), not the PDP at %s", t, d.Reason, base)
				return
			}
			allowedBefore[t] = d.Allowed
			r.info(fmt.Sprintf("before the cut: the PDP decided %v for %s", d.Allowed, t), "", "")
		}
		tr.cut.Store(true)
		r.info("network between the PEP client and the PDP cut", "", "")
	} else {
		r.info("PEP client pointed at "+base+", where nothing listens", "", "")
	}
	check := func(t, task, label string, seen bool) {
		req := s.toolRequest(t, task)
		rule := eng.Fallback().Rule(req)
		want := false
		switch rule.Mode {
		case pdp.FallbackAllow:
			want = true
		case pdp.FallbackCached:
			want = seen && allowedBefore[t]
		case pdp.FallbackLocal:
			d, err := eng.Evaluate(req)
			want = err == nil && d.Allowed
		}
		body, _ := json.Marshal(req)
		d, err := cl.Evaluate(ctx, req)
		if err != nil {
			r.finding(label+": the client returned an error instead of the declared fallback", string(body), err.Error())
			return
		}
		resp := fmt.Sprintf("allowed=%v source=%s mode=%s reason=%q", d.Allowed, d.Source, d.Mode, d.Reason)
		switch {
		case d.Source != client.SourceFallback:
			r.finding(label+": answered by "+d.Source+" during the partition", string(body), resp)
		case d.Mode != rule.Mode:
			r.finding(fmt.Sprintf("%s: fallback mode %s, declared %s", label, d.Mode, rule.Mode), string(body), resp)
		case d.Allowed && !want:
			r.finding(fmt.Sprintf("%s: allowed in %s mode, which the declaration does not justify", label, rule.Mode), string(body), resp)
		case d.Allowed != want:
			r.finding(fmt.Sprintf("%s: denied in %s mode, the declaration allows it", label, rule.Mode), string(body), resp)
		default:
			r.ok(fmt.Sprintf("%s: %s mode, allowed=%v as declared", label, rule.Mode, d.Allowed), string(body), resp)
		}
	}
	for _, t := range tools {
		check(t, task, "call of "+t, true)
		if eng.Fallback().Rule(s.toolRequest(t, task)).Mode == pdp.FallbackCached {
			check(t, task+"-unseen", "call of "+t+" with a context the PDP never saw", false)
		}
	}
	r.skip("PDP ↔ bundle source partition and PDP cold start without a bundle (staging)", "JIT grants expiring during the partition")
}

func checkFallbackDeclaration(_ context.Context, s *session, r *record) {
	eng := s.needBundle(r)
	if eng == nil {
		return
	}
	p := s.profile.PDP
	fb := eng.Fallback()
	unlisted := s.toolRequest("agconf/unlisted-"+s.nonce, "t")
	if rule := fb.Rule(unlisted); rule.Mode == pdp.FallbackDeny {
		r.ok("a tool no rule names falls back to deny (the default)", toJSON(unlisted), "mode "+rule.Mode)
	} else {
		r.finding("a tool no rule names falls back to "+rule.Mode, toJSON(unlisted), "")
	}
	if fb == nil || len(fb.Rules) == 0 {
		r.ok("the bundle declares no fallback rules: every call is denied when the PDP is unreachable", "", "")
	} else {
		for i, rule := range fb.Rules {
			at := fmt.Sprintf("rules[%d] %v: %s", i, rule.Resources, rule.Mode)
			switch rule.Mode {
			case pdp.FallbackCached:
				if rule.MaxStale.Duration > 0 && rule.MaxStale.Duration <= p.MaxStale.Duration {
					r.ok(fmt.Sprintf("%s with maxStale %s ≤ %s", at, rule.MaxStale.Duration, p.MaxStale.Duration), toJSON(rule), "")
				} else {
					r.finding(fmt.Sprintf("%s: maxStale %s is not within (0, %s]", at, rule.MaxStale.Duration, p.MaxStale.Duration), toJSON(rule), "")
				}
			default:
				r.ok(at+" is one of the declared modes", toJSON(rule), "")
			}
		}
	}
	rt, ok := eng.Mapping().ResourceTypes[p.ResourceType]
	for _, t := range p.FallbackTools {
		if !ok {
			break
		}
		e, found := eng.Entity(types.NewEntityUID(rt, types.String(t)))
		if !found {
			continue
		}
		v, _ := e.Attributes.Get(pdp.LowRiskAttribute)
		mode := fb.Rule(s.toolRequest(t, "t")).Mode
		if sv, isStr := v.(types.String); isStr && sv == "high" && mode != pdp.FallbackDeny {
			if p.StrictFallback {
				r.finding(fmt.Sprintf("high-sensitivity tool %s falls back to %s (strict profile wants deny)", t, mode), "", "")
			} else {
				r.info(fmt.Sprintf("high-sensitivity tool %s falls back to %s (allowed outside the strict profile)", t, mode), "", "")
			}
		}
	}
	r.info("every fallback decision is counted by the PEP client (agentguard_client_fallback_total{mode,tool,reason}) and queued for the decision log", "", "")
}
