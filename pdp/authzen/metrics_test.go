package authzen

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/metric/noop"

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

// TestMetricsDecisionCounts: concurrent decisions over new and known tools
// are all counted, each under its endpoint, outcome and tool, and only the
// combinations that occurred are reported.
func TestMetricsDecisionCounts(t *testing.T) {
	m, err := newMetrics(noop.NewMeterProvider(), nil)
	if err != nil {
		t.Fatal(err)
	}
	const workers, per = 8, 500
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range per {
				m.decision(endpoints[i%2], i%3 == 0, time.Microsecond, fmt.Sprintf("tool-%d", (i+w)%7))
			}
		})
	}
	wg.Wait()
	m.decision("no-such-endpoint", true, time.Microsecond, "tool-0") // not counted
	got := map[string]int64{}
	var total int64
	for tool, v := range m.counts.Range {
		c := v.(*toolCounts)
		for ep := range c.n {
			for out := range c.n[ep] {
				if n := c.n[ep][out].Load(); n > 0 {
					got[fmt.Sprintf("%s/%s/%s", tool, endpoints[ep], outcome(out == 1))] = n
					total += n
				}
			}
		}
	}
	if total != workers*per {
		t.Fatalf("counted %d decisions, want %d", total, workers*per)
	}
	want := map[string]int64{}
	for w := range workers {
		for i := range per {
			want[fmt.Sprintf("tool-%d/%s/%s", (i+w)%7, endpoints[i%2], outcome(i%3 == 0))]++
		}
	}
	if !maps.Equal(got, want) {
		t.Errorf("counts differ:\n got %v\nwant %v", got, want)
	}
}
