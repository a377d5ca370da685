package main

import (
	"testing"
	"time"
)

func TestQuantile(t *testing.T) {
	t.Parallel()
	var lat []time.Duration
	for i := 1; i <= 1000; i++ {
		lat = append(lat, time.Duration(i)*time.Microsecond)
	}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{
		{0.5, 500 * time.Microsecond},
		{0.99, 990 * time.Microsecond},
		{0.999, 999 * time.Microsecond},
		{1, 1000 * time.Microsecond},
		{0, time.Microsecond},
	} {
		if got := quantile(lat, tc.q); got != tc.want {
			t.Errorf("quantile(%v) = %v, want %v", tc.q, got, tc.want)
		}
	}
	if got := quantile(nil, 0.5); got != 0 {
		t.Errorf("quantile of nothing = %v", got)
	}
}

func TestPick(t *testing.T) {
	t.Parallel()
	round := func(label string, n int, cpu time.Duration) runResult {
		return runResult{label: label, elapsed: time.Second, latencies: make([]time.Duration, n), cpu: cpu}
	}
	rounds := []runResult{round("1", 200, 40*time.Millisecond), round("2", 300, 90*time.Millisecond), round("3", 100, 10*time.Millisecond)}
	if got := pick(rounds, "best").label; got != "2" {
		t.Errorf("best round %s, want 2", got)
	}
	if got := pick(rounds, "median").label; got != "1" {
		t.Errorf("median round %s, want 1", got)
	}
	if got, want := medianCPU(rounds), 200*time.Microsecond; got != want { // 200, 300, 100 µs/req
		t.Errorf("median CPU %v, want %v", got, want)
	}
}

func TestPairedRatio(t *testing.T) {
	t.Parallel()
	round := func(n int) runResult {
		return runResult{elapsed: time.Second, latencies: make([]time.Duration, n)}
	}
	ag := []runResult{round(300), round(290), round(330), round(100)}
	// OPA's best round (130) is paired with an ordinary agentguard round:
	// best ÷ best would say 330/130 = 2.54; the pairs say 3.0, 2.23, 3.3, 1.0.
	opa := []runResult{round(100), round(130), round(100), round(100)}
	ratio, i, ok := pairedRatio(ag, opa)
	if !ok || i != 1 || ratio != 290.0/130 {
		t.Errorf("pairedRatio = %.3f, round %d, %v; want %.3f, round 1 (the lower middle of four)", ratio, i, ok, 290.0/130)
	}
	ratio, i, ok = pairedRatio(ag[:3], opa[:3])
	if !ok || i != 0 || ratio != 3 {
		t.Errorf("pairedRatio of three = %.3f, round %d, %v; want 3.000, round 0", ratio, i, ok)
	}
	if got := formatRatios(roundRatios(ag, []runResult{round(100), round(130), round(0), round(100)})); got != "3.00 2.23 n/a 1.00" {
		t.Errorf("roundRatios = %q", got)
	}
	if _, _, ok := pairedRatio(ag, []runResult{round(0)}); ok {
		t.Error("a pair without OPA answers made a ratio")
	}
	if _, _, ok := pairedRatio(nil, opa); ok {
		t.Error("no agentguard rounds made a ratio")
	}
}
