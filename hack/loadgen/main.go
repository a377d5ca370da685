// Command loadgen load-tests agentguard's policy decision point and OPA side
// by side on one generated workload (`make bench-pdp`).
//
// It generates tenants × agents × tools, writes them as an agentguard bundle
// (the Cedar policies of -policies plus a generated entities.json) and as the
// equivalent Rego policy and data for OPA, starts `agentguard serve --pdp` and
// `opa run --server` on free loopback ports, and sends both the same bounded
// list of AuthZEN requests, in alternating rounds. Every decision is checked
// against the workload's expected one, so the benchmark is also a
// differential test: any mismatch or error makes it exit non-zero.
//
// It prints one row per server and, as its last line, "pdp-vs-opa throughput
// ratio: N.NN" (agentguard ÷ OPA): by default (-pick pair) the median, over
// the rounds, of the ratio of the two servers' rounds run one after the
// other, and the rows are that pair; -pick best or median compares each
// server's best or median round instead. Progress,
// one line per pass with the CPU time server and load generator spent per
// request, goes to stderr: on a small shared machine the CPU per request is
// steadier than the throughput.
//
//	go run ./hack/loadgen -agentguard bin/agentguard -opa bin/opa \
//	    [-requests 200000] [-concurrency 16] [-rounds 5] [-seed 1] [-keep]
//
// By default (-pin) the load generator runs on one CPU and the servers on
// the others: on a small machine a client sharing the server's CPUs takes
// CPU from whichever server answers faster, which pulls the throughput ratio
// toward 1 whatever the servers cost (on 2 cores the shared run reported
// 1.84 where the CPU per request differed 2.5×). -pin=false shares them.
//
// -agentguard "" or -opa "" loads only the other server. The default client
// (-client raw) is a minimal keep-alive HTTP/1.1 client: the load generator
// shares the cores with both servers, and net/http (-client nethttp) costs
// about twice the CPU per request.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

func main() { os.Exit(run()) }

type options struct {
	workload    WorkloadOptions
	agentguard  string
	opa         string
	policies    string
	concurrency int
	rounds      int
	warmup      int
	pick        string
	client      string
	timeout     time.Duration
	keep        bool
	// agentguardArgs are extra `agentguard serve` arguments.
	agentguardArgs string
	pin            bool
	// profile, when set, is where agentguard's CPU profile of the
	// measured rounds goes (`make pgo` makes cmd/agentguard/default.pgo).
	profile string
}

func parseFlags() (options, error) {
	var o options
	flag.StringVar(&o.agentguard, "agentguard", "bin/agentguard", "agentguard binary (empty: skip it)")
	flag.StringVar(&o.opa, "opa", "bin/opa", "opa binary (empty: skip it)")
	flag.StringVar(&o.policies, "policies", "policies/pdp", "directory with the Cedar schema, policies and mapping.yaml to bundle")
	flag.IntVar(&o.workload.Tenants, "tenants", 20, "tenants")
	flag.IntVar(&o.workload.Agents, "agents", 50, "agents per tenant")
	flag.IntVar(&o.workload.Tools, "tools", 40, "tools per tenant")
	flag.IntVar(&o.workload.Servers, "servers", 4, "tool servers per tenant")
	flag.IntVar(&o.workload.Requests, "requests", 200000, "requests per round and server")
	flag.Uint64Var(&o.workload.Seed, "seed", 1, "workload seed")
	flag.IntVar(&o.concurrency, "concurrency", 16, "concurrent workers (keep-alive connections) per server")
	flag.IntVar(&o.rounds, "rounds", 5, "measured rounds per server, run alternately")
	flag.IntVar(&o.warmup, "warmup", 20000, "warm-up requests per server before the rounds")
	flag.StringVar(&o.pick, "pick", "pair", "how rounds make the ratio: pair (median over side-by-side round pairs of agentguard ÷ OPA; the rows are the median pair), best or median (each server's best or median round by throughput)")
	flag.StringVar(&o.client, "client", "raw", "HTTP client: raw (a minimal keep-alive HTTP/1.1 client, half the CPU of net/http, which the servers need on a small machine) or nethttp (net/http Transport)")
	flag.DurationVar(&o.timeout, "timeout", 10*time.Minute, "limit for the whole run")
	flag.BoolVar(&o.keep, "keep", false, "keep the generated files and server logs (their directory is printed)")
	flag.StringVar(&o.profile, "agentguard-profile", "", "write agentguard's CPU profile over the first 30 s of the measured rounds to this file (for profile-guided optimization: `make pgo`)")
	flag.BoolVar(&o.pin, "pin", true, "run the load generator on one CPU and the servers on the others (Linux, two CPUs or more), so that the client does not take CPU from the server it measures")
	flag.StringVar(&o.agentguardArgs, "agentguard-args", "", "extra arguments for `agentguard serve`, space separated (e.g. \"--decision-log=false\" to compare without the decision log, which OPA does not keep by default)")
	flag.Parse()
	switch {
	case flag.NArg() > 0:
		return o, fmt.Errorf("unexpected arguments %q", flag.Args())
	case o.workload.Requests <= 0 || o.workload.Tenants <= 0 || o.workload.Agents <= 0 || o.workload.Tools <= 0 || o.workload.Servers <= 0:
		return o, errors.New("-requests, -tenants, -agents, -tools and -servers must be positive")
	case o.concurrency <= 0 || o.rounds <= 0 || o.warmup < 0:
		return o, errors.New("-concurrency and -rounds must be positive, -warmup not negative")
	case o.pick != "pair" && o.pick != "best" && o.pick != "median":
		return o, fmt.Errorf("-pick %q: want pair, best or median", o.pick)
	case o.client != "nethttp" && o.client != "raw":
		return o, fmt.Errorf("-client %q: want nethttp or raw", o.client)
	case o.agentguard == "" && o.opa == "":
		return o, errors.New("nothing to load: both -agentguard and -opa are empty")
	}
	return o, nil
}

func run() int {
	o, err := parseFlags()
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		return 2
	}
	if o.pin {
		layout, err := pin() // re-executes the load generator on its CPU once
		if err != nil {
			layout = "not pinned (" + err.Error() + "): load generator and servers share the CPUs"
		}
		fmt.Fprintln(os.Stderr, layout)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	code, err := bench(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		return 1
	}
	return code
}

// bench runs the whole benchmark and returns the exit code.
func bench(ctx context.Context, o options) (int, error) {
	w, reqs := Generate(o.workload)
	fmt.Fprintln(os.Stderr, "workload:", summarize(w, reqs))

	dir, err := os.MkdirTemp("", "agentguard-loadgen-")
	if err != nil {
		return 0, err
	}
	if o.keep {
		fmt.Fprintln(os.Stderr, "files and logs in", dir)
	} else {
		defer func() { _ = os.RemoveAll(dir) }()
	}

	var targets []*target
	var pprofAddr string
	if o.agentguard != "" {
		bundle, err := WriteBundle(filepath.Join(dir, "bundle"), o.policies, w)
		if err != nil {
			return 0, fmt.Errorf("write bundle: %w", err)
		}
		addr, err := freePort()
		if err != nil {
			return 0, err
		}
		// Unauthenticated and with an unsigned bundle, like the OPA it is
		// compared with: the benchmark measures decisions. The decision log
		// stays on, as in production.
		extra := strings.Fields(o.agentguardArgs)
		if o.profile != "" {
			if pprofAddr, err = freePort(); err != nil {
				return 0, err
			}
			extra = append(extra, "--pprof-addr", pprofAddr)
		}
		srv, err := startServer(ctx, "agentguard", addr, "/readyz", dir, time.Minute, o.agentguard,
			append([]string{"serve", "--pdp", "--pdp-addr", addr, "--bundle", bundle, "--log-level", "warn"},
				append([]string{"--insecure-allow-unauthenticated", "--insecure-skip-bundle-verify", "--data-dir", filepath.Join(dir, "state")},
					extra...)...)...)
		if err != nil {
			return 0, err
		}
		defer srv.stop()
		t, err := newTarget("agentguard", srv, "/access/v1/evaluation", reqs,
			func(b []byte) []byte { return b }, decodePDP, o.client, o.concurrency)
		if err != nil {
			return 0, err
		}
		targets = append(targets, t)
	}
	if o.opa != "" {
		policy, data, err := WriteRego(filepath.Join(dir, "opa"), w)
		if err != nil {
			return 0, fmt.Errorf("write rego: %w", err)
		}
		addr, err := freePort()
		if err != nil {
			return 0, err
		}
		srv, err := startServer(ctx, "opa", addr, "/health", dir, time.Minute, o.opa,
			"run", "--server", "--addr", addr, "--log-level", "error",
			"--skip-version-check", "--optimize-store-for-read-speed", "--shutdown-grace-period", "1",
			policy, data)
		if err != nil {
			return 0, err
		}
		defer srv.stop()
		t, err := newTarget("opa", srv, "/v1/data/agentguard/authz/allow", reqs,
			wrapOPA, decodeOPA, o.client, o.concurrency)
		if err != nil {
			return 0, err
		}
		targets = append(targets, t)
	}

	results := map[string][]runResult{}
	failed := false
	check := func(r runResult) error {
		fmt.Fprintln(os.Stderr, progressLine(r))
		if r.errors > 0 {
			fmt.Fprintf(os.Stderr, "  %s: %d errors, first: %s\n", r.name, r.errors, r.firstErr)
			failed = true
		}
		for _, m := range r.mismatches {
			rq := reqs[m.index]
			fmt.Fprintf(os.Stderr, "  %s mismatch: request #%d (%s) expected %s, got %s:\n    sent %s\n    answer %.300s\n",
				r.name, m.index, rq.Kind, verdict(rq.Expect), verdict(m.got), authzenBody(rq), m.answer)
		}
		if r.mismatchN > 0 {
			failed = true
		}
		if err := targetOf(targets, r.name).srv.alive(); err != nil {
			return err
		}
		if r.incomplete {
			cause := context.Cause(ctx)
			if errors.Is(cause, context.DeadlineExceeded) {
				cause = fmt.Errorf("-timeout %v reached", o.timeout)
			}
			return fmt.Errorf("%s %s stopped early: %w", r.name, r.label, cause)
		}
		return nil
	}
	for _, t := range targets {
		if o.warmup == 0 {
			continue
		}
		if err := check(drive(ctx, t, reqs, o.warmup, o.concurrency, "warm-up")); err != nil {
			return 0, err
		}
	}
	var profiled <-chan error
	if pprofAddr != "" {
		profiled = fetchProfile(ctx, pprofAddr, 30*time.Second, o.profile)
	}
	for round := 1; round <= o.rounds; round++ {
		for _, t := range targets {
			r := drive(ctx, t, reqs, len(reqs), o.concurrency, fmt.Sprintf("round %d", round))
			if err := check(r); err != nil {
				return 0, err
			}
			results[t.name] = append(results[t.name], r)
		}
	}

	if profiled != nil {
		if err := <-profiled; err != nil {
			return 0, fmt.Errorf("agentguard profile: %w", err)
		}
		fmt.Fprintln(os.Stderr, "agentguard CPU profile written to", o.profile)
	}

	rows := make([]runResult, 0, len(targets))
	mismatches := 0
	ratio, pairIdx, paired := pairedRatio(results["agentguard"], results["opa"])
	for _, t := range targets {
		switch {
		case o.pick == "pair" && paired:
			rows = append(rows, results[t.name][pairIdx])
		case o.pick == "pair":
			rows = append(rows, pick(results[t.name], "median"))
		default:
			rows = append(rows, pick(results[t.name], o.pick))
		}
		for _, r := range results[t.name] {
			mismatches += r.mismatchN
		}
	}
	fmt.Printf("mismatches: %d (decisions differing from the workload's expected ones, all rounds)\n", mismatches)
	writeTable(os.Stdout, rows)
	if len(rows) == 2 {
		// CPU per request is steadier than throughput on a busy machine.
		if ag, opa := medianCPU(results["agentguard"]), medianCPU(results["opa"]); ag > 0 && opa > 0 {
			fmt.Printf("server cpu per request, median of rounds: agentguard %s, opa %s (opa ÷ agentguard: %.2f)\n",
				micros(ag), micros(opa), float64(opa)/float64(ag))
		}
		opa := rows[1].throughput()
		switch {
		case o.pick == "pair" && paired:
			fmt.Printf("throughput ratio per round: %s (median: round %d)\n", formatRatios(roundRatios(results["agentguard"], results["opa"])), pairIdx+1)
			fmt.Printf("pdp-vs-opa throughput ratio: %.2f\n", ratio)
		case opa > 0:
			fmt.Printf("pdp-vs-opa throughput ratio: %.2f\n", rows[0].throughput()/opa)
		default:
			fmt.Println("pdp-vs-opa throughput ratio: n/a (OPA answered nothing)")
			failed = true
		}
	}
	if failed {
		return 1, nil
	}
	return 0, nil
}

func targetOf(ts []*target, name string) *target {
	for _, t := range ts {
		if t.name == name {
			return t
		}
	}
	return nil
}

func verdict(allow bool) string {
	if allow {
		return "allow"
	}
	return "deny"
}

// summarize describes the workload and its request mix in one line.
func summarize(w *Workload, reqs []Request) string {
	allow, withUser := 0, 0
	kinds := map[string]int{}
	for _, r := range reqs {
		if r.Expect {
			allow++
		}
		if r.User != "" {
			withUser++
		}
		kinds[r.Kind]++
	}
	delegated := 0
	for _, a := range w.Agents {
		if a.Mode == modeUserDelegated {
			delegated++
		}
	}
	pct := func(n int) float64 { return 100 * float64(n) / float64(len(reqs)) }
	return fmt.Sprintf("%d tenants, %d agents (%d user-delegated), %d tools on %d servers; %d requests: %.0f%% allowed, %.0f%% with a user; %.0f%% allowlisted, %.0f%% own-tenant, %.0f%% cross-tenant, %.0f%% random tools",
		len(w.Tenants), len(w.Agents), delegated, len(w.Tools), len(w.Servers), len(reqs), pct(allow), pct(withUser),
		pct(kinds[kindAllowlisted]), pct(kinds[kindOwnTenant]), pct(kinds[kindCrossTenant]), pct(kinds[kindRandom]))
}
