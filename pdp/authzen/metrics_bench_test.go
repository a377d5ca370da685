package authzen

import (
	"context"
	"testing"
	"time"

	"github.com/agentguard/agentguard/internal/telemetry"
)

func BenchmarkMetricsDecision(b *testing.B) {
	tel, err := telemetry.Setup(context.Background(), telemetry.Options{})
	if err != nil {
		b.Fatal(err)
	}
	m, err := newMetrics(tel.MeterProvider, tel.Registry)
	if err != nil {
		b.Fatal(err)
	}
	tools := []string{"a/b", "c/d", "e/f", "g/h"}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		m.decision("evaluation", i&1 == 0, 30*time.Microsecond, tools[i&3])
		i++
	}
}
