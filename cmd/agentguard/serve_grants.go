package main

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/agentguard/agentguard/internal/telemetry"
	"github.com/agentguard/agentguard/pdp"
	"github.com/agentguard/agentguard/pdp/grants"
)

// grantHealth tracks whether the grant store answers, for /v1/status.
type grantHealth struct {
	mu        sync.Mutex
	lastOK    time.Time
	lastErr   string
	lastErrAt time.Time
}

func (h *grantHealth) observe(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err == nil {
		h.lastOK, h.lastErr = time.Now(), ""
		return
	}
	h.lastErr, h.lastErrAt = err.Error(), time.Now()
}

// status is the grant part of GET /v1/status. Degraded means the store
// cannot be reached: grants already known stay in force until their own
// expiry, and new access requests get 503.
func (h *grantHealth) status(store string, live *pdp.Grants) map[string]any {
	h.mu.Lock()
	defer h.mu.Unlock()
	st := map[string]any{"store": store, "live": live.Len(), "healthy": h.lastErr == ""}
	if !h.lastOK.IsZero() {
		st["lastSync"] = h.lastOK
	}
	if h.lastErr != "" {
		st["lastError"], st["lastErrorAt"] = h.lastErr, h.lastErrAt
		st["degraded"] = "grant store unreachable: known grants stay in force until their own expiry; new access requests get 503"
	}
	return st
}

// reconcileGrants repairs the live grant set from the store every interval
// (a backstop for a watch slow to resume) and records the store's health.
func reconcileGrants(ctx context.Context, store grants.Store, live *pdp.Grants, h *grantHealth, interval time.Duration, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	wasDown := false
	for {
		cctx, cancel := context.WithTimeout(ctx, interval)
		err := grants.Reconcile(cctx, store, live)
		cancel()
		h.observe(err)
		switch {
		case err != nil && !wasDown:
			log.Warn("grant store unreachable: known grants stay in force until their own expiry; new access requests get 503", "error", err)
		case err == nil && wasDown:
			log.Info("grant store reachable again")
		}
		wasDown = err != nil
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// grantStates remembers the status of every request the watch delivers,
// for the agentguard_grants{state} gauge.
type grantStates struct {
	mu sync.Mutex
	m  map[string]grants.Status
}

func (g *grantStates) see(r *grants.Request) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.m == nil {
		g.m = map[string]grants.Status{}
	}
	g.m[r.ID] = r.Status
}

func (g *grantStates) counts() map[grants.Status]int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := map[grants.Status]int64{}
	for _, st := range g.m {
		out[st]++
	}
	return out
}

// registerGrantMetrics exposes agentguard_grants_live (the approved grants
// this replica holds; expired ones leave within a minute) and
// agentguard_grants{state} (access requests by status, as the store's
// watch reports them).
func registerGrantMetrics(tel *telemetry.Telemetry, live *pdp.Grants, states *grantStates) error {
	m := tel.MeterProvider.Meter("github.com/agentguard/agentguard/cmd/agentguard")
	if _, err := m.Int64ObservableGauge("agentguard.grants.live",
		metric.WithDescription("Approved just-in-time grants held by this PDP replica."),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			o.Observe(int64(live.Len()))
			return nil
		})); err != nil {
		return err
	}
	_, err := m.Int64ObservableGauge("agentguard.grants",
		metric.WithDescription("Access requests and grants by state (pending, approved, denied, expired, cancelled, revoked)."),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			for st, n := range states.counts() {
				o.Observe(n, metric.WithAttributes(attribute.String("state", string(st))))
			}
			return nil
		}))
	return err
}
