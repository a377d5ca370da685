package main

import (
	"encoding/csv"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/agentguard/agentguard/pdp"
	"github.com/agentguard/agentguard/pdp/client"
)

// modes are the table's fallback modes, in order.
var modes = []string{pdp.FallbackDeny, pdp.FallbackCached, pdp.FallbackLocal, pdp.FallbackAllow}

// row is one fault × fallback mode: the calls that started during the
// fault.
type row struct {
	fault, mode string
	calls       int
	pdp         int // answered by the PDP
	fallback    int // decided by the client's fallback
	allows      int
	denies      int
	errors      int
	unsafe      int // allows the oracle denies (declared allows excluded)
	declared    int // fallback allows of allow-mode tools the oracle denies
	p99, max    time.Duration
	// recover is, over the clients, the longest time from the fault's end
	// to the first PDP answer for a tool of this mode; -1 if none came.
	recover time.Duration
}

// report is a run's outcome.
type report struct {
	cfg     config
	rows    []row
	phases  []*phase
	results []result
	// outside sums the calls made outside every fault window (warm-ups
	// and recoveries); they are judged the same way.
	outside row
	// maxLatency is the slowest call of the run; maxBlocked the longest a
	// call took while this process ran (its latency less the stalls the
	// monitor saw during it), which is what the deadline bounds.
	maxLatency, maxBlocked time.Duration
	// late counts calls blocked past Timeout+Grace.
	late int
	// maxStall is the longest time the process stood still.
	maxStall time.Duration
	// examples are some unsafe or late calls, for the failure output.
	examples []string
	failures []string
}

// OK reports whether every requirement held.
func (r *report) OK() bool { return len(r.failures) == 0 }

func buildReport(cfg config, phases []*phase, results []result, stalls *stallMonitor) *report {
	rep := &report{cfg: cfg, phases: phases, results: results, outside: row{fault: "(outside faults)", mode: "all"}, maxStall: stalls.longest()}
	limit := cfg.Timeout + cfg.Grace
	inFault := make([]bool, len(results))
	for _, ph := range phases {
		for _, mode := range modes {
			rw := row{fault: ph.name, mode: mode}
			var lat []time.Duration
			firstPDP := map[int]time.Duration{}
			for i, res := range results {
				if res.mode != mode {
					continue
				}
				if res.source == client.SourcePDP && !res.start.Before(ph.end) {
					if _, ok := firstPDP[res.pep]; !ok {
						firstPDP[res.pep] = res.start.Sub(ph.end)
					}
				}
				if res.start.Before(ph.start) || !res.start.Before(ph.end) {
					continue
				}
				inFault[i] = true
				rw.add(res)
				lat = append(lat, res.latency())
			}
			rw.p99, rw.max = percentile(lat, 0.99), percentile(lat, 1)
			rw.recover = -1
			for _, d := range firstPDP {
				rw.recover = max(rw.recover, d)
			}
			rep.rows = append(rep.rows, rw)
		}
	}
	var outLat []time.Duration
	for i, res := range results {
		rep.maxLatency = max(rep.maxLatency, res.latency())
		blocked := res.latency() - stalls.within(res.start, res.end)
		rep.maxBlocked = max(rep.maxBlocked, blocked)
		if blocked > limit {
			rep.late++
		}
		if res.unsafe() || blocked > limit {
			if len(rep.examples) < 12 {
				rep.examples = append(rep.examples, describe(res, phases))
			}
		}
		if !inFault[i] {
			rep.outside.add(res)
			outLat = append(outLat, res.latency())
		}
	}
	rep.outside.p99, rep.outside.max, rep.outside.recover = percentile(outLat, 0.99), percentile(outLat, 1), -1

	unsafe := rep.outside.unsafe
	for _, rw := range rep.rows {
		unsafe += rw.unsafe
	}
	if unsafe > 0 {
		rep.failures = append(rep.failures, fmt.Sprintf("%d unsafe allows", unsafe))
	}
	if rep.late > 0 {
		rep.failures = append(rep.failures, fmt.Sprintf("%d calls blocked past their %s deadline (+%s grace), the longest %s",
			rep.late, cfg.Timeout, cfg.Grace, rep.maxBlocked.Round(time.Millisecond)))
	}
	for _, ph := range phases {
		for _, f := range ph.failures {
			rep.failures = append(rep.failures, ph.name+": "+f)
		}
	}
	return rep
}

func (rw *row) add(res result) {
	rw.calls++
	switch {
	case res.err != nil:
		rw.errors++
	case res.source == client.SourcePDP:
		rw.pdp++
	default:
		rw.fallback++
	}
	if res.err == nil {
		if res.allowed {
			rw.allows++
		} else {
			rw.denies++
		}
	}
	if res.unsafe() {
		rw.unsafe++
	}
	if res.declared() && !res.oracle {
		rw.declared++
	}
}

// percentile returns the p-quantile (nearest rank) of ds.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(p*float64(len(s))+0.999999) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// describe says what a call was, relative to the fault of its phase (the
// first whose recovery ended after the call started).
func describe(res result, phases []*phase) string {
	where := ""
	for _, ph := range phases {
		if ph.recovered.IsZero() || !res.start.After(ph.recovered) || ph == phases[len(phases)-1] {
			where = fmt.Sprintf(" %s (start %+.3fs into the fault, grants expire at %+.3fs)", ph.name,
				res.start.Sub(ph.start).Seconds(), ph.grantUntil.Sub(ph.start).Seconds())
			break
		}
	}
	errs := ""
	if res.err != nil {
		errs = " error: " + res.err.Error()
	}
	return fmt.Sprintf("c%d %s mode=%s source=%s allowed=%v oracle=%v latency=%s%s%s",
		res.pep, res.tool, res.mode, res.source, res.allowed, res.oracle, res.latency().Round(time.Millisecond), where, errs)
}

// causes counts the fallbacks of calls that started during ph's fault, by
// cause.
func causes(results []result, ph *phase) string {
	n := map[string]int{}
	for _, res := range results {
		if res.cause != "" && !res.start.Before(ph.start) && res.start.Before(ph.end) {
			n[res.cause]++
		}
	}
	if len(n) == 0 {
		return "none"
	}
	var parts []string
	for _, c := range slices.Sorted(maps.Keys(n)) {
		parts = append(parts, fmt.Sprintf("%s %d", c, n[c]))
	}
	return strings.Join(parts, ", ")
}

func ms(d time.Duration) string {
	if d < 0 {
		return "-"
	}
	return fmt.Sprintf("%dms", d.Milliseconds())
}

func (r *report) print(out io.Writer) {
	c := r.cfg
	fmt.Fprintf(out, "chaos-pdp: %d clients × %.0f calls/s, deadline %s, breaker opens after 3 failures for %s; faults of %s, cached maxStale %s\n\n",
		c.Clients, c.Rate, c.Timeout, c.BreakerOpenFor, c.Fault, c.MaxStale)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "fault\tmode\tdecisions\tpdp\tfallback\tallows\tdenies\terrors\tunsafe\tdeclared\tp99\tmax\trecover\t")
	line := func(rw row) {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t\n", rw.fault, rw.mode, rw.calls-rw.errors, rw.pdp, rw.fallback,
			rw.allows, rw.denies, rw.errors, rw.unsafe, rw.declared, ms(rw.p99), ms(rw.max), ms(rw.recover))
	}
	for _, rw := range r.rows {
		line(rw)
	}
	line(r.outside)
	_ = tw.Flush()
	fmt.Fprint(out, `
decisions: calls that started during the fault and were answered (pdp) or decided by the client's fallback;
unsafe: allows the oracle (same bundle, approved unexpired grants, true clock) denies;
declared: fallback allows of allow-mode tools the oracle denies (allowed by the bundle's declaration, not unsafe);
p99, max: call latency; recover: longest wait, over the clients, from the fault's end to a PDP answer for a tool of this mode.

`)
	for _, ph := range r.phases {
		fmt.Fprintf(out, "%s: fallback records made %d, counted by the PDPs %d, still queued %d; fallbacks during the fault by cause: %s\n",
			ph.name, ph.generated, ph.received, ph.pending, causes(r.results, ph))
		for _, n := range ph.notes {
			fmt.Fprintf(out, "  - %s\n", n)
		}
		for _, w := range ph.warnings {
			fmt.Fprintf(out, "  WARN %s\n", w)
		}
		for _, f := range ph.failures {
			fmt.Fprintf(out, "  FAIL %s\n", f)
		}
	}
	if len(r.examples) > 0 {
		fmt.Fprintln(out, "\nunsafe or late calls:")
		for _, e := range r.examples {
			fmt.Fprintf(out, "  %s\n", e)
		}
	}
	fmt.Fprintf(out, "\nslowest call %s; longest a call blocked while chaos-pdp ran %s (deadline %s + %s grace); longest stall of chaos-pdp itself %s\n",
		r.maxLatency.Round(time.Millisecond), r.maxBlocked.Round(time.Millisecond), c.Timeout, c.Grace, r.maxStall.Round(time.Millisecond))
	warnings := 0
	for _, ph := range r.phases {
		warnings += len(ph.warnings)
	}
	if r.OK() {
		fmt.Fprintf(out, "VERDICT: PASS — no unsafe allow; no call blocked past its %s deadline (slowest %s); every fallback record delivered; %d warnings\n",
			c.Timeout, r.maxLatency.Round(time.Millisecond), warnings)
		return
	}
	fmt.Fprintf(out, "VERDICT: FAIL — %s\n", strings.Join(r.failures, "; "))
}

// writeCSV writes every call: when it started (Unix ms) and how long it
// took, the client, the tool and mode, who decided, the decision, the
// oracle's, and the fallback cause or error.
func writeCSV(path string, results []result) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	_ = w.Write([]string{"start_unix_ms", "latency_ms", "client", "tool", "mode", "source", "allowed", "oracle", "cause", "error"})
	for _, r := range results {
		errs := ""
		if r.err != nil {
			errs = r.err.Error()
		}
		_ = w.Write([]string{
			strconv.FormatInt(r.start.UnixMilli(), 10), strconv.FormatInt(r.latency().Milliseconds(), 10),
			strconv.Itoa(r.pep), r.tool, r.mode, r.source, strconv.FormatBool(r.allowed), strconv.FormatBool(r.oracle), r.cause, errs,
		})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}
