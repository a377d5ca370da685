package audit

import (
	"context"
	"fmt"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Reasons a record is dropped (the "reason" attribute of
// agentguard.audit.dropped).
const (
	dropQueueFull = iota
	dropWriteError
	dropInvalid
	dropClosed
	numDropReasons
)

var dropReasons = [numDropReasons]string{"queue_full", "write_error", "invalid", "closed"}

// Kinds as metric attributes; anything else counts as "other", so the
// cardinality stays bounded.
var metricKinds = [...]Kind{KindAdmission, KindPDPDecision, KindGrantEvent, KindClientFallback, KindDrop, "other"}

func kindIndex(k Kind) int {
	for i, m := range metricKinds[:len(metricKinds)-1] {
		if k == m {
			return i
		}
	}
	return len(metricKinds) - 1
}

// stats are the log's counters, read by Stats and the metric callback.
type stats struct {
	written     [len(metricKinds)]atomic.Int64
	dropped     [numDropReasons]atomic.Int64
	bytes       atomic.Int64
	checkpoints atomic.Int64
	writeErrors atomic.Int64
	seq         atomic.Uint64
	sealed      atomic.Uint64
}

// registerMetrics exports the counters as asynchronous instruments, so the
// Append path only touches atomics.
func registerMetrics(mp metric.MeterProvider, l *Log) (metric.Registration, error) {
	m := mp.Meter("github.com/agentguard/agentguard/audit")
	var (
		err                                     error
		depth, capacity, unsealed               metric.Int64ObservableGauge
		records, dropped, bytes, cps, writeErrs metric.Int64ObservableCounter
	)
	if depth, err = m.Int64ObservableGauge("agentguard.audit.queue.depth", metric.WithUnit("{record}"),
		metric.WithDescription("Records waiting for the decision-log writer.")); err != nil {
		return nil, fmt.Errorf("audit metrics: %w", err)
	}
	if capacity, err = m.Int64ObservableGauge("agentguard.audit.queue.capacity", metric.WithUnit("{record}"),
		metric.WithDescription("Size of the decision-log queue; beyond it records are dropped.")); err != nil {
		return nil, fmt.Errorf("audit metrics: %w", err)
	}
	if unsealed, err = m.Int64ObservableGauge("agentguard.audit.unsealed", metric.WithUnit("{record}"),
		metric.WithDescription("Records written but not yet covered by a signed checkpoint.")); err != nil {
		return nil, fmt.Errorf("audit metrics: %w", err)
	}
	if records, err = m.Int64ObservableCounter("agentguard.audit.records", metric.WithUnit("{record}"),
		metric.WithDescription("Records written to the decision log, by kind.")); err != nil {
		return nil, fmt.Errorf("audit metrics: %w", err)
	}
	if dropped, err = m.Int64ObservableCounter("agentguard.audit.dropped", metric.WithUnit("{record}"),
		metric.WithDescription("Records lost before reaching the decision log, by reason.")); err != nil {
		return nil, fmt.Errorf("audit metrics: %w", err)
	}
	if bytes, err = m.Int64ObservableCounter("agentguard.audit.written", metric.WithUnit("By"),
		metric.WithDescription("Bytes written to decision-log segments.")); err != nil {
		return nil, fmt.Errorf("audit metrics: %w", err)
	}
	if cps, err = m.Int64ObservableCounter("agentguard.audit.checkpoints", metric.WithUnit("{checkpoint}"),
		metric.WithDescription("Signed checkpoints written.")); err != nil {
		return nil, fmt.Errorf("audit metrics: %w", err)
	}
	if writeErrs, err = m.Int64ObservableCounter("agentguard.audit.write.errors", metric.WithUnit("{error}"),
		metric.WithDescription("Failed writes, syncs and checkpoints of the decision log.")); err != nil {
		return nil, fmt.Errorf("audit metrics: %w", err)
	}
	kindAttrs := make([]metric.ObserveOption, len(metricKinds))
	for i, k := range metricKinds {
		kindAttrs[i] = metric.WithAttributeSet(attribute.NewSet(attribute.String("kind", string(k))))
	}
	reasonAttrs := make([]metric.ObserveOption, numDropReasons)
	for i, r := range dropReasons {
		reasonAttrs[i] = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", r)))
	}
	reg, err := m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		o.ObserveInt64(depth, int64(len(l.queue)))
		o.ObserveInt64(capacity, int64(cap(l.queue)))
		o.ObserveInt64(unsealed, int64(l.st.seq.Load()-l.st.sealed.Load())) //nolint:gosec // sealed <= seq, small
		for i := range metricKinds {
			o.ObserveInt64(records, l.st.written[i].Load(), kindAttrs[i])
		}
		for i := range dropReasons {
			o.ObserveInt64(dropped, l.st.dropped[i].Load(), reasonAttrs[i])
		}
		o.ObserveInt64(bytes, l.st.bytes.Load())
		o.ObserveInt64(cps, l.st.checkpoints.Load())
		o.ObserveInt64(writeErrs, l.st.writeErrors.Load())
		return nil
	}, depth, capacity, unsealed, records, dropped, bytes, cps, writeErrs)
	if err != nil {
		return nil, fmt.Errorf("audit metrics: %w", err)
	}
	return reg, nil
}
