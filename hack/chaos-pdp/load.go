package main

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/agentguard/agentguard/pdp"
	"github.com/agentguard/agentguard/pdp/client"
)

// oracle decides what the PDP should have: the same bundle and every
// approved grant (added before it is submitted), by the true clock.
type oracle struct {
	eng    *pdp.Engine
	grants *pdp.Grants
}

// allows reports whether the oracle allows r at any of the times (a call
// is judged at its start and its end: a grant may expire or appear while
// it is in flight).
func (o *oracle) allows(r *pdp.Request, at ...time.Time) bool {
	for _, t := range at {
		if d, err := o.eng.EvaluateAt(r, t); err == nil && d.Allowed {
			return true
		}
	}
	return false
}

// mode is the fallback mode the bundle declares for r.
func (o *oracle) mode(r *pdp.Request) string { return o.eng.Fallback().Rule(r).Mode }

// result is one client call, judged.
type result struct {
	pep        int
	tool, mode string
	start, end time.Time
	source     string // client.SourcePDP or client.SourceFallback; "" on error
	cause      string // why the client fell back: unreachable, circuit_open
	allowed    bool
	err        error
	oracle     bool
}

func (r result) latency() time.Duration { return r.end.Sub(r.start) }

// unsafe is an allow the oracle denies, other than a declared allow.
func (r result) unsafe() bool { return r.allowed && !r.oracle && !r.declared() }

// declared is a fallback allow of an allow-mode tool (allowed by the
// bundle's declaration, whatever the oracle says).
func (r result) declared() bool {
	return r.allowed && r.source == client.SourceFallback && r.mode == pdp.FallbackAllow
}

// recorder keeps every result.
type recorder struct {
	mu      sync.Mutex
	results []result
}

func (rc *recorder) add(r result) {
	rc.mu.Lock()
	rc.results = append(rc.results, r)
	rc.mu.Unlock()
}

func (rc *recorder) all() []result {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]result(nil), rc.results...)
}

// load makes calls at rate per second, one at a time, until ctx ends or
// maxCalls were made.
func (p *pep) load(ctx context.Context, rate float64, maxCalls int, o *oracle, rc *recorder) {
	t := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer t.Stop()
	for i := 0; i < maxCalls; i++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		req := p.calls[i%len(p.calls)]
		// A guard far above the client's own deadline, which is what is
		// measured.
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		start := time.Now()
		d, err := p.cl.Evaluate(cctx, &req)
		end := time.Now()
		cancel()
		if ctx.Err() != nil {
			return
		}

		if d.Source == client.SourcePDP {
			p.lastPDP.Store(start.UnixNano())
		}
		rc.add(result{
			pep: p.id, tool: req.Resource.ID, mode: o.mode(&req),
			start: start, end: end, source: d.Source, allowed: err == nil && d.Allowed, err: err,
			cause:  fallbackCause(d),
			oracle: o.allows(&req, start, end),
		})
	}
}

// fallbackCause is the first word of a fallback's reason ("unreachable",
// "circuit_open"), or "".
func fallbackCause(d client.Decision) string {
	if d.Source != client.SourceFallback {
		return ""
	}
	cause, _, _ := strings.Cut(d.Reason, ":")
	return cause
}
