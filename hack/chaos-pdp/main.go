// Command chaos-pdp proves the PEP fallback of issue #7 under real faults
// (`make chaos-pdp`; a short form runs in `make test`).
//
// It starts real processes: the envtest kube-apiserver and etcd with the
// AgentGrant CRD, two `agentguard serve --pdp` replicas that keep grants as
// AgentGrant resources (reaching the apiserver through a TCP proxy the tool
// controls), and an HTTPS bundle server with fault switches serving a signed
// bundle built from policies/ with a fallback.yaml covering all four modes.
// Several pdp/client instances then call the replicas at a bounded rate, each
// with its own verified copy of the bundle (for the local fallback) and its
// own grant snapshot, while the tool injects one fault at a time, each
// followed by a recovery phase:
//
//	kill-pdp         replica A SIGKILLed, restarted at the end
//	pause-pdp        replica B SIGSTOPped (a hang, not a refusal), SIGCONT at the end
//	apiserver-down   the proxy to the apiserver refuses and drops connections
//	bundle-500       the bundle server answers 500; replica A restarts meanwhile
//	bundle-tampered  the bundle server serves a tampered bundle; replica B restarts meanwhile
//	clock-skew       client clocks ±10 min off; both replicas killed a third in
//
// Before each fault the agent gets fresh just-in-time grants (access request,
// approved automatically or by a static-token approver) that expire in the
// middle of the fault. An oracle — a pdp.Engine on the same bundle with every
// approved grant, deciding by the true clock — judges every call: an allow it
// denies is an unsafe allow, except fallback allows of tools declared "allow",
// which are counted apart. The tool prints one row per fault × fallback mode
// and a verdict, and exits 1 if any call was unsafely allowed, blocked past
// its deadline, or if a fallback record did not reach the PDP after recovery
// (2 if the run itself failed).
//
//	KUBEBUILDER_ASSETS=$PWD/bin/k8s go run ./hack/chaos-pdp [-short] [-agentguard bin/agentguard] [-v]
//	    [-faults kill-pdp,clock-skew] [-fault 20s] [-clients 6] [-rate 20] [-csv calls.csv] [-keep]
//
// Everything runs on loopback. The replicas get a parent-death signal and
// a watchdog kills the apiserver and etcd should chaos-pdp itself die, so
// no process or temp file outlives a run, even after a panic or SIGKILL.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	short := flag.Bool("short", false, "quick form (about a minute): shorter phases, fewer clients")
	agentguard := flag.String("agentguard", "", "agentguard binary (default: go build ./cmd/agentguard into the temp dir)")
	root := flag.String("root", "", "repository root with policies/ and config/crd (default: the Go module root)")
	fault := flag.Duration("fault", 0, "length of each fault (default 20s, 4s with -short)")
	clients := flag.Int("clients", 0, "PEP clients (default 6, 4 with -short)")
	rate := flag.Float64("rate", 0, "calls per second per client (default 20)")
	verbose := flag.Bool("v", false, "log progress to stderr")
	keep := flag.Bool("keep", false, "keep the temp dir (replica logs) for inspection")
	only := flag.String("faults", "", "comma-separated faults to run (default: all)")
	csvPath := flag.String("csv", "", "write every call to this CSV file")
	flag.Parse()
	cfg := defaultConfig(*short)
	cfg.Agentguard, cfg.Root, cfg.Keep, cfg.CSV = *agentguard, *root, *keep, *csvPath
	if *only != "" {
		cfg.Faults = strings.Split(*only, ",")
	}
	if *fault > 0 {
		cfg.setFault(*fault)
	}
	if *clients > 0 {
		cfg.Clients = *clients
	}
	if *rate > 0 {
		cfg.Rate = *rate
	}
	cfg.Assets = os.Getenv("KUBEBUILDER_ASSETS")
	if *verbose {
		cfg.Log = os.Stderr
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	rep, err := run(ctx, cfg, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos-pdp:", err)
		stop()
		os.Exit(2)
	}
	fmt.Printf("total time %s\n", time.Since(start).Round(100*time.Millisecond))
	if !rep.OK() {
		stop()
		os.Exit(1)
	}
}
