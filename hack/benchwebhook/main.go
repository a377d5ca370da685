// Command benchwebhook measures agentguard's admission webhook evaluating
// one AdmissionReview in-process against OPA's Go API evaluating an
// equivalent Rego policy (policy/guardrails.rego, written the way a
// Gatekeeper user would) on the same review, side by side in one run.
//
// It first checks that both produce the same control IDs on a set of
// variants of the review (so the Rego policy is equivalent), then times
// interleaved batches of both and prints p50/p99 for each. The last line is
//
//	webhook-vs-rego latency ratio: N.NN
//
// (Rego p50 divided by agentguard p50). Run it with `make bench-webhook`.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"time"
)

func main() {
	var o options
	flag.StringVar(&o.bundle, "bundle", "policies", "agentguard bundle directory")
	flag.StringVar(&o.review, "review", "webhook/testdata/agent-deployment.json", "AdmissionReview to evaluate")
	flag.StringVar(&o.policy, "policy", "hack/benchwebhook/policy", "directory of the equivalent Rego policy")
	flag.IntVar(&o.n, "n", 20000, "timed evaluations per engine")
	flag.IntVar(&o.batch, "batch", 500, "evaluations per interleaved batch")
	flag.IntVar(&o.warmup, "warmup", 2000, "untimed evaluations per engine first")
	flag.Parse()
	if err := run(context.Background(), &o); err != nil {
		fmt.Fprintln(os.Stderr, "benchwebhook:", err)
		os.Exit(1)
	}
}

type options struct {
	bundle, review, policy string
	n, batch, warmup       int
}

func run(ctx context.Context, o *options) error {
	review, err := os.ReadFile(o.review)
	if err != nil {
		return err
	}
	ag, err := newAgentguard(o.bundle)
	if err != nil {
		return err
	}
	rg, err := newRegoPolicy(ctx, o.policy, ag.engine.Config())
	if err != nil {
		return err
	}
	checked, err := checkEquivalence(ctx, ag, rg, review)
	if err != nil {
		return err
	}
	fmt.Printf("equivalence: agentguard and the Rego policy report the same control IDs on %d review variants\n", checked)

	for i := 0; i < o.warmup; i++ {
		if err := ag.time(review); err != nil {
			return err
		}
		if err := rg.time(ctx, review); err != nil {
			return err
		}
	}
	agLat := make([]time.Duration, 0, o.n)
	rgLat := make([]time.Duration, 0, o.n)
	var agCPU, rgCPU time.Duration
	for len(agLat) < o.n {
		b := min(o.batch, o.n-len(agLat))
		c0 := cpuTime()
		for i := 0; i < b; i++ {
			start := time.Now()
			if err := ag.time(review); err != nil {
				return err
			}
			agLat = append(agLat, time.Since(start))
		}
		c1 := cpuTime()
		for i := 0; i < b; i++ {
			start := time.Now()
			if err := rg.time(ctx, review); err != nil {
				return err
			}
			rgLat = append(rgLat, time.Since(start))
		}
		agCPU += c1 - c0
		rgCPU += cpuTime() - c1
	}
	a, r := summarize(agLat), summarize(rgLat)
	fmt.Printf("workload: one AdmissionReview (%s, %d bytes), %d timed evaluations each in interleaved batches of %d, GOMAXPROCS=%d\n",
		o.review, len(review), o.n, o.batch, runtime.GOMAXPROCS(0))
	// CPU time per evaluation (process CPU, GC included) is less sensitive
	// than wall-clock latency to other work on the machine.
	fmt.Printf("%-44s %10s %10s %10s %10s\n", "engine", "p50", "p99", "mean", "cpu/op")
	fmt.Printf("%-44s %10s %10s %10s %10s\n", "agentguard webhook (in-process /validate)", us(a.p50), us(a.p99), us(a.mean), us(agCPU/time.Duration(o.n)))
	fmt.Printf("%-44s %10s %10s %10s %10s\n", "OPA Go API (equivalent Rego, prepared query)", us(r.p50), us(r.p99), us(r.mean), us(rgCPU/time.Duration(o.n)))
	verdict := "yes"
	if a.p99 >= time.Millisecond {
		verdict = "NO"
	}
	fmt.Printf("agentguard p99 under 1 ms in-process: %s\n", verdict)
	fmt.Printf("webhook-vs-rego latency ratio: %.2f\n", float64(r.p50)/float64(a.p50))
	return nil
}

func us(d time.Duration) string { return fmt.Sprintf("%.1fµs", float64(d)/float64(time.Microsecond)) }
