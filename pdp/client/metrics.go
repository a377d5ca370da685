package client

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

type metrics struct {
	fallbacks metric.Int64Counter
	drops     metric.Int64Counter
}

func newMetrics(mp metric.MeterProvider) (*metrics, error) {
	m := mp.Meter("github.com/agentguard/agentguard/pdp/client")
	var err error
	out := &metrics{}
	if out.fallbacks, err = m.Int64Counter("agentguard.client.fallback",
		metric.WithDescription("Decisions made by the declared fallback because the PDP could not be reached, by mode, tool and reason.")); err != nil {
		return nil, err
	}
	if out.drops, err = m.Int64Counter("agentguard.client.fallback.records.dropped",
		metric.WithDescription("Fallback records dropped because the queue for the decision log was full.")); err != nil {
		return nil, err
	}
	return out, nil
}

// fallback counts one fallback decision. tool is a resource id from the
// bundle's declared tools, a bounded set.
func (m *metrics) fallback(ctx context.Context, mode, tool, reason string) {
	m.fallbacks.Add(ctx, 1, metric.WithAttributes(attribute.String("mode", mode), attribute.String("tool", tool), attribute.String("reason", reason)))
}
