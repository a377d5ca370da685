package authzen

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// metrics are the PDP's decision metrics. On /metrics they appear as
// agentguard_pdp_decisions_total{endpoint,decision,tool},
// agentguard_pdp_decision_duration_seconds{endpoint,decision} and
// agentguard_pdp_request_errors_total{endpoint,status}.
//
// Decisions are counted on every request, so the counter is kept in
// atomics and handed to OpenTelemetry when a reader collects (an observable
// counter): a decision costs one map read and one atomic add, not a lookup
// in the SDK's attribute-set map. OpenTelemetry has no observable
// histogram, so the latency histogram is a Prometheus one on the same
// registry, resolved once per endpoint and outcome (an observation is a few
// atomic adds); it has no tool label (alerts aggregate it anyway).
type metrics struct {
	errs      metric.Int64Counter
	fbRecords metric.Int64Counter
	fbDropped metric.Int64Counter

	mu     sync.RWMutex
	counts map[countKey]*decisionCount

	// latency holds the histogram's observer per endpoint and outcome.
	latency map[latencyKey]prometheus.Observer
}

type countKey struct {
	endpoint string
	allowed  bool
	tool     string
}

type latencyKey struct {
	endpoint string
	allowed  bool
}

type decisionCount struct {
	n    atomic.Int64
	attr metric.ObserveOption
}

// endpoints are the values of the endpoint label.
var endpoints = []string{"evaluation", "evaluations"}

func outcome(allowed bool) string {
	if allowed {
		return "allow"
	}
	return "deny"
}

// newMetrics makes the metrics; the latency histogram is registered with
// reg unless it is nil.
func newMetrics(mp metric.MeterProvider, reg prometheus.Registerer) (*metrics, error) {
	m := mp.Meter("github.com/agentguard/agentguard/pdp/authzen")
	var err error
	out := &metrics{counts: map[countKey]*decisionCount{}, latency: map[latencyKey]prometheus.Observer{}}
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "agentguard_pdp_decision_duration_seconds",
		Help:    "Time from request arrival to decision.",
		Buckets: []float64{0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1},
	}, []string{"endpoint", "decision"})
	if reg != nil {
		if err := reg.Register(duration); err != nil {
			return nil, err
		}
	}
	for _, ep := range endpoints {
		for _, allowed := range []bool{false, true} {
			out.latency[latencyKey{ep, allowed}] = duration.WithLabelValues(ep, outcome(allowed))
		}
	}
	if _, err = m.Int64ObservableCounter("agentguard.pdp.decisions",
		metric.WithDescription("PDP decisions by endpoint and outcome."),
		metric.WithInt64Callback(out.observeDecisions)); err != nil {
		return nil, err
	}
	if out.errs, err = m.Int64Counter("agentguard.pdp.request.errors",
		metric.WithDescription("PDP requests answered with an HTTP error, by endpoint and status.")); err != nil {
		return nil, err
	}
	if out.fbRecords, err = m.Int64Counter("agentguard.pdp.fallback.records",
		metric.WithDescription("Fallback decisions reported by PEPs after an outage.")); err != nil {
		return nil, err
	}
	if out.fbDropped, err = m.Int64Counter("agentguard.pdp.fallback.records.dropped",
		metric.WithDescription("Fallback decisions PEPs report they had to drop (queue full).")); err != nil {
		return nil, err
	}
	return out, nil
}

func (m *metrics) observeDecisions(_ context.Context, o metric.Int64Observer) error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	for _, c := range m.counts {
		o.Observe(c.n.Load(), c.attr)
	}
	return nil
}

func (m *metrics) fallbackRecords(ctx context.Context, n, dropped int) {
	m.fbRecords.Add(ctx, int64(n))
	m.fbDropped.Add(ctx, int64(dropped))
}

// decision counts one decision and records its latency. tool must come
// from a bounded set (see toolLabel).
func (m *metrics) decision(endpoint string, allowed bool, d time.Duration, tool string) {
	k := countKey{endpoint, allowed, tool}
	m.mu.RLock()
	c := m.counts[k]
	m.mu.RUnlock()
	if c == nil {
		c = m.newCount(k)
	}
	c.n.Add(1)
	if o, ok := m.latency[latencyKey{endpoint, allowed}]; ok {
		o.Observe(d.Seconds())
	}
}

func (m *metrics) newCount(k countKey) *decisionCount {
	m.mu.Lock()
	defer m.mu.Unlock()
	if c := m.counts[k]; c != nil {
		return c
	}
	c := &decisionCount{attr: metric.WithAttributeSet(attribute.NewSet(
		attribute.String("endpoint", k.endpoint), attribute.String("decision", outcome(k.allowed)), attribute.String("tool", k.tool)))}
	m.counts[k] = c
	return c
}

func (m *metrics) errors(ctx context.Context, endpoint string, status int) {
	m.errs.Add(ctx, 1, metric.WithAttributes(attribute.String("endpoint", endpoint), attribute.String("status", strconv.Itoa(status))))
}
