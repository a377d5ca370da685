package main

import (
	"cmp"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

func sortDurations(d []time.Duration) { slices.Sort(d) }

// quantile returns the q-quantile (nearest rank) of sorted latencies.
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// throughput is answered requests per second of wall time.
func (r runResult) throughput() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(len(r.latencies)) / r.elapsed.Seconds()
}

// perRequest divides a CPU time by the answered requests; -1 if unknown.
func (r runResult) perRequest(cpu time.Duration) time.Duration {
	if cpu < 0 || len(r.latencies) == 0 {
		return -1
	}
	return cpu / time.Duration(len(r.latencies))
}

func micros(d time.Duration) string {
	if d < 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.1fµs", float64(d)/float64(time.Microsecond))
}

// medianCPU is the median server CPU time per request over rounds, or -1.
func medianCPU(rounds []runResult) time.Duration {
	var d []time.Duration
	for _, r := range rounds {
		if c := r.perRequest(r.cpu); c >= 0 {
			d = append(d, c)
		}
	}
	if len(d) == 0 {
		return -1
	}
	slices.Sort(d)
	return d[(len(d)-1)/2]
}

// roundRatios is the throughput ratio a ÷ b of each pair of rounds (round i
// of a, round i of b, run one after the other), in order; 0 where b answered
// nothing.
func roundRatios(a, b []runResult) []float64 {
	out := make([]float64, min(len(a), len(b)))
	for i := range out {
		if tb := b[i].throughput(); tb > 0 {
			out[i] = a[i].throughput() / tb
		}
	}
	return out
}

// pairedRatio is the median of roundRatios and its round (the lower middle
// for an even count). On a shared machine whose speed drifts, a pair sees
// the same machine; the best rounds of each server may not (OPA's rounds
// vary more, so its best one is the luckier), and the median pair is not
// moved by one lucky or unlucky round. ok is false without a comparable pair.
func pairedRatio(a, b []runResult) (ratio float64, i int, ok bool) {
	ratios := roundRatios(a, b)
	var idx []int
	for i, r := range ratios {
		if r > 0 {
			idx = append(idx, i)
		}
	}
	if len(idx) == 0 {
		return 0, 0, false
	}
	slices.SortFunc(idx, func(x, y int) int { return cmp.Compare(ratios[x], ratios[y]) })
	i = idx[(len(idx)-1)/2]
	return ratios[i], i, true
}

// formatRatios writes ratios as "3.18 3.27 n/a".
func formatRatios(ratios []float64) string {
	parts := make([]string, len(ratios))
	for i, r := range ratios {
		parts[i] = "n/a"
		if r > 0 {
			parts[i] = fmt.Sprintf("%.2f", r)
		}
	}
	return strings.Join(parts, " ")
}

// pick chooses the reported round: the one with the best throughput, or the
// median one (the lower middle for an even count).
func pick(rounds []runResult, how string) runResult {
	s := slices.Clone(rounds)
	slices.SortFunc(s, func(a, b runResult) int {
		switch ta, tb := a.throughput(), b.throughput(); {
		case ta < tb:
			return -1
		case ta > tb:
			return 1
		}
		return 0
	})
	if how == "median" {
		return s[(len(s)-1)/2]
	}
	return s[len(s)-1]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.3fms", float64(d)/float64(time.Millisecond)) }

// progressLine is the one-line summary of a pass, for stderr.
func progressLine(r runResult) string {
	s := fmt.Sprintf("%-10s %-8s %7d req %3d err %3d mismatch %9.0f req/s  p50 %s  p99 %s  p999 %s",
		r.name, r.label, r.sent, r.errors, r.mismatchN, r.throughput(),
		ms(quantile(r.latencies, 0.5)), ms(quantile(r.latencies, 0.99)), ms(quantile(r.latencies, 0.999)))
	return s + fmt.Sprintf("  cpu/req server %s client %s", micros(r.perRequest(r.cpu)), micros(r.perRequest(r.clientCPU)))
}

// writeTable prints one row per server.
func writeTable(w io.Writer, rows []runResult) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "server    \trequests\terrors\treq/s\tp50\tp99\tp999\tserver cpu/req\tround\t")
	for _, r := range rows {
		fmt.Fprintf(tw, "%-10s\t%d\t%d\t%.0f\t%s\t%s\t%s\t%s\t%s\t\n", r.name, r.sent, r.errors, r.throughput(),
			ms(quantile(r.latencies, 0.5)), ms(quantile(r.latencies, 0.99)), ms(quantile(r.latencies, 0.999)), micros(r.perRequest(r.cpu)), r.label)
	}
	_ = tw.Flush()
}
