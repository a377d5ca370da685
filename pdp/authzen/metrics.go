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
// counter): a decision costs one lock-free read of a sync.Map (tool →
// counters per endpoint and outcome) and one atomic add, not a lookup in
// the SDK's attribute-set map. OpenTelemetry has no observable histogram, so the latency histogram
// is a Prometheus one on the same registry, resolved once per endpoint and
// outcome (an observation is a few atomic adds); it has no tool label
// (alerts aggregate it anyway).
type metrics struct {
	errs      metric.Int64Counter
	fbRecords metric.Int64Counter
	fbDropped metric.Int64Counter

	counts sync.Map // tool → *toolCounts

	// latency holds the histogram's observer per endpoint and outcome.
	latency [len(endpoints)][2]prometheus.Observer
}

// toolCounts are one tool's decisions per endpoint and outcome (deny, allow).
type toolCounts struct {
	n    [len(endpoints)][2]atomic.Int64
	attr [len(endpoints)][2]metric.ObserveOption
}

// endpoints are the values of the endpoint label.
var endpoints = [...]string{"evaluation", "evaluations"}

// endpointIndex is endpoint's place in endpoints, or -1.
func endpointIndex(endpoint string) int {
	for i, ep := range endpoints {
		if ep == endpoint {
			return i
		}
	}
	return -1
}

func outcomeIndex(allowed bool) int {
	if allowed {
		return 1
	}
	return 0
}

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
	out := &metrics{}
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
	for i, ep := range endpoints {
		for _, allowed := range []bool{false, true} {
			out.latency[i][outcomeIndex(allowed)] = duration.WithLabelValues(ep, outcome(allowed))
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

// observeDecisions reports every endpoint, outcome and tool that has had a
// decision.
func (m *metrics) observeDecisions(_ context.Context, o metric.Int64Observer) error {
	for _, v := range m.counts.Range {
		c := v.(*toolCounts)
		for ep := range c.n {
			for out := range c.n[ep] {
				if n := c.n[ep][out].Load(); n > 0 {
					o.Observe(n, c.attr[ep][out])
				}
			}
		}
	}
	return nil
}

func (m *metrics) fallbackRecords(ctx context.Context, n, dropped int) {
	m.fbRecords.Add(ctx, int64(n))
	m.fbDropped.Add(ctx, int64(dropped))
}

// decision counts one decision and records its latency. tool must come
// from a bounded set (see toolLabel); endpoint is one of endpoints.
func (m *metrics) decision(endpoint string, allowed bool, d time.Duration, tool string) {
	ep := endpointIndex(endpoint)
	if ep < 0 {
		return
	}
	var c *toolCounts
	if v, ok := m.counts.Load(tool); ok {
		c = v.(*toolCounts)
	} else {
		c = m.newTool(tool)
	}
	out := outcomeIndex(allowed)
	c.n[ep][out].Add(1)
	m.latency[ep][out].Observe(d.Seconds())
}

// newTool makes tool's counters, unless another decision just did.
func (m *metrics) newTool(tool string) *toolCounts {
	c := &toolCounts{}
	for ep, name := range endpoints {
		for _, allowed := range []bool{false, true} {
			c.attr[ep][outcomeIndex(allowed)] = metric.WithAttributeSet(attribute.NewSet(
				attribute.String("endpoint", name), attribute.String("decision", outcome(allowed)), attribute.String("tool", tool)))
		}
	}
	v, _ := m.counts.LoadOrStore(tool, c)
	return v.(*toolCounts)
}

func (m *metrics) errors(ctx context.Context, endpoint string, status int) {
	m.errs.Add(ctx, 1, metric.WithAttributes(attribute.String("endpoint", endpoint), attribute.String("status", strconv.Itoa(status))))
}
