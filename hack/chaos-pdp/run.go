package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/agentguard/agentguard/bundles"
	"github.com/agentguard/agentguard/pdp"
	"github.com/agentguard/agentguard/pdp/authn"
)

// harness is one run: the processes, the clients and the oracle.
type harness struct {
	cfg       config
	dir       string
	log       io.Writer
	cluster   *cluster
	bundles   *chaosBundles
	bundleSrv *bundleServer
	replicas  []*replica
	tokens    map[string]string
	oracle    *oracle
	peps      []*pep
	rec       *recorder
	phases    []*phase
}

func (h *harness) a() *replica { return h.replicas[0] }
func (h *harness) b() *replica { return h.replicas[1] }

func (h *harness) logf(format string, args ...any) {
	if h.log != nil {
		fmt.Fprintf(h.log, "%s chaos-pdp: %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
	}
}

// run sets everything up, runs every fault, prints the report to out and
// returns it. Every process and temp file is gone when it returns, also
// after a panic or when ctx is cancelled (interrupt).
func run(parent context.Context, cfg config, out io.Writer) (rep *report, err error) {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	g := &group{onPanic: cancel}
	h := &harness{cfg: cfg, log: cfg.Log, rec: &recorder{}, tokens: map[string]string{}}
	stalls := &stallMonitor{}
	g.Go(func() { stalls.run(ctx) })

	var cleanups []func()
	defer func() {
		cancel()
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
		if gerr := g.WaitFor(10 * time.Second); gerr != nil && err == nil {
			err = gerr
		}
	}()

	if cfg.Root == "" {
		if cfg.Root, err = moduleRoot(); err != nil {
			return nil, err
		}
	}
	if h.dir, err = os.MkdirTemp("", "chaos-pdp-"); err != nil {
		return nil, err
	}
	cleanups = append(cleanups, func() {
		if cfg.Keep {
			fmt.Fprintf(out, "kept %s\n", h.dir)
			return
		}
		_ = os.RemoveAll(h.dir)
	})

	bin := cfg.Agentguard
	if bin == "" {
		bin = filepath.Join(h.dir, "agentguard")
		h.logf("building %s", bin)
		build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/agentguard")
		build.Dir = cfg.Root
		if outp, err := build.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("go build ./cmd/agentguard: %w\n%s", err, outp)
		}
	}

	h.logf("starting kube-apiserver + etcd")
	if h.cluster, err = startCluster(ctx, cfg.Assets, filepath.Join(cfg.Root, "config", "crd"), h.dir); err != nil {
		return nil, err
	}
	cleanups = append(cleanups, h.cluster.stop)
	reap := h.dir
	if cfg.Keep {
		reap = ""
	}
	stopReaper, err := startReaper(reap)
	if err != nil {
		return nil, fmt.Errorf("start the watchdog: %w", err)
	}
	cleanups = append([]func(){stopReaper}, cleanups...) // runs last

	if h.bundles, err = buildBundles(filepath.Join(cfg.Root, "policies"), h.dir, cfg.MaxStale); err != nil {
		return nil, fmt.Errorf("chaos bundle: %w", err)
	}
	if h.bundleSrv, err = startBundleServer(h.bundles, h.dir); err != nil {
		return nil, err
	}
	cleanups = append(cleanups, h.bundleSrv.close)

	if err := h.startReplicas(ctx, bin); err != nil {
		return nil, err
	}
	cleanups = append(cleanups, func() {
		for _, r := range h.replicas {
			r.stop()
		}
	})

	if err := h.setupClients(ctx, g); err != nil {
		return nil, err
	}
	cleanups = append(cleanups, func() {
		// A client wedged by a bug must not keep the processes alive.
		done := make(chan struct{})
		go func() {
			for _, p := range h.peps {
				_ = p.cl.Close()
			}
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(2 * time.Second):
			fmt.Fprintln(out, "chaos-pdp: a client did not close within 2s")
		}
	})

	// The payments grant stays approved throughout: the PDP allows
	// refunds for INC-7, the deny fallback must not.
	refund := call(agentTriage, toolRefund, map[string]string{"task": "INC-7"})
	if _, err := grant(ctx, h.oracle, h.a().url, h.tokens[agentTriage], h.tokens[userAlice], refund, "INC-7", time.Now().Add(14*time.Minute).Truncate(time.Second)); err != nil {
		return nil, err
	}

	selected, err := selectFaults(cfg.Faults)
	if err != nil {
		return nil, err
	}
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	maxCalls := int(cfg.Rate * (6*(cfg.Warm+cfg.Fault+cfg.Recover) + 2*time.Minute).Seconds())
	for _, p := range h.peps {
		g.Go(func() { p.load(loadCtx, cfg.Rate, maxCalls, h.oracle, h.rec) })
	}
	for _, f := range selected {
		if err := h.runPhase(ctx, f); err != nil {
			stopLoad()
			return nil, fmt.Errorf("%s: %w", f.name, err)
		}
		if err := g.Err(); err != nil {
			stopLoad()
			return nil, err
		}
	}
	// Let every client call every tool once more, so that each row has a
	// time to recover.
	sleepUntil(ctx, time.Now().Add(time.Duration(float64(time.Second)*float64(len(callMix(agentTriage)))/cfg.Rate)+time.Second))
	stopLoad()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rep = buildReport(cfg, h.phases, h.rec.all(), stalls)
	if cfg.CSV != "" {
		if err := writeCSV(cfg.CSV, rep.results); err != nil {
			return nil, err
		}
	}
	rep.print(out)
	return rep, nil
}

// selectFaults returns the named faults, in their usual order.
func selectFaults(names []string) ([]fault, error) {
	all := faults()
	if len(names) == 0 {
		return all, nil
	}
	var out []fault
	for _, f := range all {
		if slices.Contains(names, f.name) {
			out = append(out, f)
		}
	}
	if len(out) != len(names) {
		var known []string
		for _, f := range all {
			known = append(known, f.name)
		}
		return nil, fmt.Errorf("-faults %s: want some of %s", strings.Join(names, ","), strings.Join(known, ","))
	}
	return out, nil
}

// moduleRoot is the directory of the main module's go.mod.
func moduleRoot() (string, error) {
	outp, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(outp))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside the agentguard module: pass -root")
	}
	return filepath.Dir(gomod), nil
}

// startReplicas writes the static tokens and the shared grant signing key
// and starts replicas A and B.
func (h *harness) startReplicas(ctx context.Context, bin string) error {
	var entries []authn.StaticTokenEntry
	for _, id := range []struct{ typ, id string }{{"Agent", agentTriage}, {"Agent", agentAssistant}, {"User", userAlice}} {
		tok, err := authn.NewToken()
		if err != nil {
			return err
		}
		h.tokens[id.id] = tok
		entries = append(entries, authn.StaticTokenEntry{SHA256: authn.HashToken(tok), Principal: authn.StaticPrincipal{Type: id.typ, ID: id.id}})
	}
	data, err := yaml.Marshal(entries)
	if err != nil {
		return err
	}
	tokens := filepath.Join(h.dir, "tokens.yaml")
	if err := os.WriteFile(tokens, data, 0o600); err != nil {
		return err
	}
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	keyPath := filepath.Join(h.dir, "grant-signing.pem")
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return err
	}
	for _, name := range []string{"A", "B"} {
		addr, err := freePort()
		if err != nil {
			return err
		}
		data := filepath.Join(h.dir, "replica-"+name)
		r := &replica{
			name: name, url: "http://" + addr, logPath: data + ".log",
			args: []string{bin, "serve", "--pdp", "--pdp-addr", addr,
				"--bundle", h.bundleSrv.url, "--bundle-pubkey", h.bundles.pubPath, "--bundle-poll-interval", "1s",
				"--data-dir", data, "--auth-token-file", tokens,
				"--grant-store", "kubernetes", "--grant-namespace", grantNamespace, "--grant-signing-key", keyPath,
				"--log-format", "text"},
			env: []string{"KUBECONFIG=" + h.cluster.kubeconfig, "SSL_CERT_FILE=" + h.bundleSrv.caPath, "OTEL_EXPORTER_OTLP_ENDPOINT="},
		}
		if err := r.start(); err != nil {
			return err
		}
		h.replicas = append(h.replicas, r)
	}
	for _, r := range h.replicas {
		if err := r.waitReady(ctx, time.Minute); err != nil {
			return err
		}
	}
	h.logf("replicas A (%s) and B (%s) ready", h.a().url, h.b().url)
	return nil
}

// setupClients builds the oracle and the clients and waits until every
// client has a verified local bundle.
func (h *harness) setupClients(ctx context.Context, g *group) error {
	src, err := pdp.ReadFS(h.bundles.good.FS())
	if err != nil {
		return err
	}
	h.oracle = &oracle{grants: pdp.NewGrants()}
	if h.oracle.eng, err = pdp.New(src, pdp.Options{Grants: h.oracle.grants}); err != nil {
		return err
	}
	pub, err := bundles.ReadPublicKeyFile(h.bundles.pubPath)
	if err != nil {
		return err
	}
	for i := range h.cfg.Clients {
		agent := agentTriage
		if i%4 == 3 {
			agent = agentAssistant
		}
		p, err := newPEP(i, agent, h.tokens[agent], h.replicas[i%2], h.cfg, h.bundleSrv.url, h.bundleSrv.srv.Client(), pub)
		if err != nil {
			return err
		}
		p.start(ctx, g)
		h.peps = append(h.peps, p)
	}
	for _, p := range h.peps {
		select {
		case <-p.bundles.Ready():
		case <-time.After(30 * time.Second):
			return fmt.Errorf("%s: no local bundle after 30s: %s", p, p.bundles.Status().LastError)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// runPhase gives the agent grants that expire halfway through the fault,
// warms up, injects the fault, heals it, waits for every client to reach
// the PDP again and for every fallback record to arrive.
func (h *harness) runPhase(ctx context.Context, f fault) error {
	ph := &phase{name: f.name}
	h.phases = append(h.phases, ph)
	cfg := h.cfg
	// Time for the grants to reach both replicas (watch) and every
	// snapshot; what it does not use adds to the warm-up.
	const grantLead = 2 * time.Second
	ph.grantUntil = time.Now().Add(grantLead + cfg.Warm + cfg.Fault/2).Truncate(time.Second).Add(time.Second)
	ids := map[string]string{}
	for _, tool := range []string{toolMerge, toolDelete} {
		id, err := grant(ctx, h.oracle, h.a().url, h.tokens[agentTriage], "", call(agentTriage, tool, nil), "", ph.grantUntil)
		if err != nil {
			return err
		}
		ids[tool] = id
	}
	if err := h.waitGrants(ctx, ph, ids); err != nil {
		return err
	}
	h.logf("%s: grants until %s in force on both replicas and in every snapshot", f.name, ph.grantUntil.Format("15:04:05"))
	if f.before != nil {
		if err := f.before(ctx, h, ph); err != nil {
			return err
		}
	}
	start := ph.grantUntil.Add(-cfg.Fault / 2)
	if !sleepUntil(ctx, start) {
		return ctx.Err()
	}
	ph.start = time.Now()
	h.logf("%s: fault starts", f.name)
	if f.inject != nil {
		if err := f.inject(ctx, h, ph); err != nil {
			return err
		}
	}
	if f.mid != nil {
		if !sleepUntil(ctx, ph.start.Add(cfg.Fault/3)) {
			return ctx.Err()
		}
		if err := f.mid(ctx, h, ph); err != nil {
			return err
		}
	}
	if !sleepUntil(ctx, ph.start.Add(cfg.Fault)) {
		return ctx.Err()
	}
	ph.end = time.Now()
	if err := f.heal(ctx, h, ph); err != nil {
		return err
	}
	h.logf("%s: fault ends; waiting for recovery", f.name)
	if err := h.waitRecovered(ctx, ph); err != nil {
		return err
	}
	return h.checkRecords(ctx, ph)
}

// waitGrants waits until every triage client's snapshot holds the grants
// and both replicas allow the granted calls, at most until the grants
// expire. A replica slower than a few seconds is noted, one that never
// gets there warned about: it decides safely (it denies), but a grant just
// approved is not honoured.
func (h *harness) waitGrants(ctx context.Context, ph *phase, ids map[string]string) error {
	start := time.Now()
	deadline := ph.grantUntil
	for _, p := range h.peps {
		if p.agent != agentTriage {
			continue
		}
		for _, id := range ids {
			for {
				if _, ok := p.snapshot.Get(id); ok {
					break
				}
				if ctx.Err() != nil {
					return ctx.Err()
				}
				if time.Now().After(deadline) {
					ph.warn("%s: grant %s never reached the snapshot before it expired", p, id)
					break
				}
				_ = p.cl.RefreshGrants(ctx)
				time.Sleep(50 * time.Millisecond)
			}
		}
	}
	for _, r := range h.replicas {
		for tool, id := range ids {
			for {
				ok, err := decide(ctx, r.url, h.tokens[agentTriage], call(agentTriage, tool, nil))
				if ok {
					break
				}
				if ctx.Err() != nil {
					return ctx.Err()
				}
				if time.Now().After(deadline) {
					if err == nil {
						err = errors.New("still denied")
					}
					ph.warn("replica %s did not honour grant %s on %s in the %s before it expired: %v",
						r.name, id, tool, deadline.Sub(start).Round(time.Second), err)
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
		if took := time.Since(start); took > 3*time.Second && time.Now().Before(deadline) {
			ph.note("replica %s honoured the grants approved through replica A only after %s", r.name, took.Round(100*time.Millisecond))
		}
	}
	return nil
}

// waitRecovered waits until every client got a PDP answer to a call that
// started after the fault ended.
func (h *harness) waitRecovered(ctx context.Context, ph *phase) error {
	deadline := ph.end.Add(h.cfg.Recover)
	for {
		done := true
		for _, p := range h.peps {
			if p.lastPDP.Load() < ph.end.UnixNano() {
				done = false
			}
		}
		if done {
			ph.recovered = time.Now()
			return nil
		}
		if time.Now().After(deadline) {
			var late []string
			for _, p := range h.peps {
				if p.lastPDP.Load() < ph.end.UnixNano() {
					late = append(late, p.String())
				}
			}
			ph.fail("no PDP answer within %s after the fault for %s", h.cfg.Recover, strings.Join(late, ", "))
			ph.recovered = time.Now()
			return nil
		}
		if !sleepUntil(ctx, time.Now().Add(20*time.Millisecond)) {
			return ctx.Err()
		}
	}
}

// checkRecords flushes every client's queue and compares the records the
// clients made with those the PDPs counted.
func (h *harness) checkRecords(ctx context.Context, ph *phase) error {
	for _, p := range h.peps {
		ph.generated += p.fallbacks.Load()
	}
	for _, p := range h.peps {
		err := p.flush(ctx, h.cfg.Recover)
		var cp *clientPanic
		if errors.As(err, &cp) {
			// The client may hold its queue's lock now: every later
			// fallback would block. The run cannot go on.
			return err
		}
		if err != nil {
			ph.fail("%v", err)
		}
		ph.pending += p.cl.Pending()
	}
	for _, r := range h.replicas {
		n, err := r.totalReceived(ctx)
		if err != nil {
			return err
		}
		ph.received += int64(n)
	}
	switch {
	case ph.pending > 0:
		ph.fail("%d fallback records still queued after recovery", ph.pending)
	case ph.received < ph.generated:
		ph.fail("fallback records: clients made %d, the PDPs counted %d", ph.generated, ph.received)
	}
	return nil
}

func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}
