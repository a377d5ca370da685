package client

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/agentguard/agentguard/pdp"
)

// Record is one fallback decision, for the decision log.
type Record struct {
	Time     time.Time  `json:"time"`
	Subject  pdp.Entity `json:"subject"`
	Action   string     `json:"action"`
	Resource pdp.Entity `json:"resource"`
	Mode     string     `json:"mode"`
	Allowed  bool       `json:"allowed"`
	// Reason says why the PDP was not asked (unreachable, circuit_open)
	// and how the fallback decided.
	Reason string `json:"reason"`
	// Policies are the local engine's determining policies (local mode).
	Policies []string `json:"policies,omitempty"`
	// Revision is the local bundle's revision (local mode).
	Revision string `json:"revision,omitempty"`
}

// fallback decides a call the PDP could not answer, as the bundle declares.
func (c *Client) fallback(ctx context.Context, req *pdp.Request, cause error) Decision {
	why := "unreachable"
	if strings.Contains(cause.Error(), "circuit open") {
		why = "circuit_open"
	}
	var eng *pdp.Engine
	if c.opts.Policy != nil {
		eng = c.opts.Policy()
	}
	rule := pdp.FallbackRule{Mode: pdp.FallbackDeny}
	if eng != nil {
		rule = eng.Fallback().Rule(req)
	}
	now := c.fallbackNow()
	rec := Record{Time: now.UTC(), Subject: req.Subject, Action: req.Action.Name, Resource: req.Resource, Mode: rule.Mode, Reason: why}
	switch rule.Mode {
	case pdp.FallbackAllow:
		rec.Allowed = true
		rec.Reason += ": declared allow for a low-risk tool"
	case pdp.FallbackCached:
		if c.cache.get(req, now, rule.MaxStale.Duration) {
			rec.Allowed = true
			rec.Reason += fmt.Sprintf(": allowed by the PDP within the last %s", rule.MaxStale.Duration)
		} else {
			rec.Reason += fmt.Sprintf(": no allow for this call within the last %s", rule.MaxStale.Duration)
		}
	case pdp.FallbackLocal:
		d, err := eng.EvaluateAt(stripApproval(req), now)
		if err != nil {
			rec.Reason += ": local evaluation failed: " + err.Error()
			break
		}
		rec.Allowed, rec.Policies, rec.Revision = d.Allowed, d.Reasons, d.Revision
		rec.Reason += ": decided by the local bundle"
	default:
		if eng == nil {
			rec.Reason += ": no local bundle, so deny"
		} else {
			rec.Reason += ": declared deny"
		}
	}
	c.metrics.fallback(ctx, rule.Mode, req.Resource.ID, why)
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		span.AddEvent("agentguard.fallback", trace.WithAttributes(
			attribute.String("agentguard.fallback.mode", rule.Mode),
			attribute.Bool("agentguard.decision", rec.Allowed),
			attribute.String("agentguard.tool", req.Resource.ID),
			attribute.String("agentguard.fallback.reason", rec.Reason),
		))
	}
	if c.opts.OnFallback != nil {
		c.opts.OnFallback(rec)
	}
	c.queue.push(rec)
	return Decision{Allowed: rec.Allowed, Source: SourceFallback, Mode: rule.Mode, Reason: rec.Reason}
}

// stripApproval drops context.approval, which is not a policy input.
func stripApproval(r *pdp.Request) *pdp.Request {
	if !strings.Contains(string(r.Context), `"approval"`) {
		return r
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(r.Context, &m) != nil {
		return r
	}
	delete(m, "approval")
	c := *r
	c.Context, _ = json.Marshal(m)
	return &c
}

// allowCache remembers the PDP's allows for cached-mode fallback.
type allowCache struct {
	mu    sync.Mutex
	max   int
	items map[[32]byte]cached
}

type cached struct {
	at, until time.Time // until is zero when no grant bounds the allow
}

func newAllowCache(max int) *allowCache {
	return &allowCache{max: max, items: map[[32]byte]cached{}}
}

// callKey identifies a call: subject, action, resource (with properties)
// and the context, canonically encoded.
func callKey(r *pdp.Request) [32]byte {
	canon := func(raw json.RawMessage) string {
		var v any
		if json.Unmarshal(raw, &v) != nil {
			return string(raw)
		}
		b, _ := json.Marshal(v)
		return string(b)
	}
	h := sha256.New()
	for _, part := range []string{
		r.Subject.Type, r.Subject.ID, canon(r.Subject.Properties),
		r.Action.Name, canon(r.Action.Properties),
		r.Resource.Type, r.Resource.ID, canon(r.Resource.Properties),
		canon(stripApproval(r).Context),
	} {
		fmt.Fprintf(h, "%d:%s;", len(part), part)
	}
	var k [32]byte
	h.Sum(k[:0])
	return k
}

func (c *allowCache) put(r *pdp.Request, now, until time.Time) {
	k := callKey(r)
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.items) >= c.max {
		for old := range c.items { // drop an arbitrary entry: bounded memory
			delete(c.items, old)
			break
		}
	}
	c.items[k] = cached{at: now, until: until}
}

// get reports a cached allow no older than maxStale and, if it came from a
// grant, not past the grant's approved_until.
func (c *allowCache) get(r *pdp.Request, now time.Time, maxStale time.Duration) bool {
	k := callKey(r)
	c.mu.Lock()
	e, ok := c.items[k]
	c.mu.Unlock()
	if !ok || now.Sub(e.at) > maxStale {
		return false
	}
	return e.until.IsZero() || now.Before(e.until)
}
