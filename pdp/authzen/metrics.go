package authzen

import (
	"context"
	"strconv"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// metrics are the PDP's decision metrics. On /metrics they appear as
// agentguard_pdp_decisions_total{endpoint,decision,tool},
// agentguard_pdp_decision_duration_seconds and
// agentguard_pdp_request_errors_total{endpoint,status}.
type metrics struct {
	decisions metric.Int64Counter
	duration  metric.Float64Histogram
	errs      metric.Int64Counter
	fbRecords metric.Int64Counter
	fbDropped metric.Int64Counter

	// sets caches the attribute set of each endpoint and outcome, so that
	// recording a decision allocates nothing.
	sets sync.Map // setKey -> metric.MeasurementOption
}

type setKey struct {
	endpoint string
	allowed  bool
	tool     string
}

func newMetrics(mp metric.MeterProvider) (*metrics, error) {
	m := mp.Meter("github.com/agentguard/agentguard/pdp/authzen")
	var err error
	out := &metrics{}
	if out.decisions, err = m.Int64Counter("agentguard.pdp.decisions",
		metric.WithDescription("PDP decisions by endpoint and outcome.")); err != nil {
		return nil, err
	}
	if out.duration, err = m.Float64Histogram("agentguard.pdp.decision.duration", metric.WithUnit("s"),
		metric.WithDescription("Time from request arrival to decision."),
		metric.WithExplicitBucketBoundaries(0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1)); err != nil {
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

func (m *metrics) fallbackRecords(ctx context.Context, n, dropped int) {
	m.fbRecords.Add(ctx, int64(n))
	m.fbDropped.Add(ctx, int64(dropped))
}

func (m *metrics) decision(ctx context.Context, endpoint string, allowed bool, d time.Duration, tool string) {
	k := setKey{endpoint, allowed, tool}
	opt, ok := m.sets.Load(k)
	if !ok {
		dec := "deny"
		if allowed {
			dec = "allow"
		}
		opt, _ = m.sets.LoadOrStore(k, metric.WithAttributeSet(attribute.NewSet(attribute.String("endpoint", endpoint), attribute.String("decision", dec), attribute.String("tool", tool))))
	}
	set := opt.(metric.MeasurementOption)
	m.decisions.Add(ctx, 1, set.(metric.AddOption))
	m.duration.Record(ctx, d.Seconds(), set.(metric.RecordOption))
}

func (m *metrics) errors(ctx context.Context, endpoint string, status int) {
	m.errs.Add(ctx, 1, metric.WithAttributes(attribute.String("endpoint", endpoint), attribute.String("status", strconv.Itoa(status))))
}
