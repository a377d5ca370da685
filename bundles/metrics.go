package bundles

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Metric names. With the Prometheus exporter they appear as
// agentguard_bundle_last_success_timestamp_seconds,
// agentguard_bundle_activation_timestamp_seconds,
// agentguard_bundle_revision_info, agentguard_bundle_failures_total and
// agentguard_bundle_activations_total.
const (
	metricLastSuccess = "agentguard.bundle.last_success_timestamp"
	metricActivatedAt = "agentguard.bundle.activation_timestamp"
	metricRevision    = "agentguard.bundle.revision_info"
	metricFailures    = "agentguard.bundle.failures"
	metricActivations = "agentguard.bundle.activations"
)

// Failure reasons, the "reason" attribute of the failure counter.
const (
	ReasonFetch    = "fetch"    // the source could not be read or parsed
	ReasonVerify   = "verify"   // signature, file hashes or minimum revision
	ReasonVersion  = "version"  // needs a newer agentguard
	ReasonActivate = "activate" // Activate refused the bundle (invalid policy)
	ReasonPersist  = "persist"  // the last-known-good copy could not be written
	ReasonCache    = "cache"    // the last-known-good copy could not be loaded
)

type metrics struct {
	failures    metric.Int64Counter
	activations metric.Int64Counter
	reg         metric.Registration
}

func newMetrics(mp metric.MeterProvider, m *Manager) (*metrics, error) {
	meter := mp.Meter("github.com/agentguard/agentguard/bundles")
	out := &metrics{}
	var err error
	if out.failures, err = meter.Int64Counter(metricFailures,
		metric.WithDescription("Bundle fetches, verifications or activations that failed, by reason.")); err != nil {
		return nil, err
	}
	if out.activations, err = meter.Int64Counter(metricActivations,
		metric.WithDescription("Bundles activated.")); err != nil {
		return nil, err
	}
	lastSuccess, err := meter.Float64ObservableGauge(metricLastSuccess, metric.WithUnit("s"),
		metric.WithDescription("Unix time of the last successful check of the bundle source (new bundle activated, or unchanged)."))
	if err != nil {
		return nil, err
	}
	activatedAt, err := meter.Float64ObservableGauge(metricActivatedAt, metric.WithUnit("s"),
		metric.WithDescription("Unix time the active bundle was activated."))
	if err != nil {
		return nil, err
	}
	revision, err := meter.Int64ObservableGauge(metricRevision,
		metric.WithDescription("The active bundle: 1, with its name, revision, digest, signer and source as attributes."))
	if err != nil {
		return nil, err
	}
	out.reg, err = meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		st := m.Status()
		if !st.LastSuccess.IsZero() {
			o.ObserveFloat64(lastSuccess, float64(st.LastSuccess.UnixNano())/1e9)
		}
		if st.Active {
			o.ObserveFloat64(activatedAt, float64(st.ActivatedAt.UnixNano())/1e9)
			o.ObserveInt64(revision, 1, metric.WithAttributes(
				attribute.String("name", st.Name),
				attribute.String("revision", st.Revision),
				attribute.String("digest", st.Digest),
				attribute.String("signer", st.Signer),
				attribute.String("source", st.ActiveSource),
			))
		}
		return nil
	}, lastSuccess, activatedAt, revision)
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (m *metrics) fail(ctx context.Context, reason string) {
	m.failures.Add(ctx, 1, metric.WithAttributes(attribute.String("reason", reason)))
}
