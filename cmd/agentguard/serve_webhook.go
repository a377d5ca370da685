package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/kubernetes"
	crconfig "sigs.k8s.io/controller-runtime/pkg/client/config"
	crlog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/agentguard/agentguard/internal/telemetry"
	"github.com/agentguard/agentguard/webhook"
	"github.com/agentguard/agentguard/webhook/guardrails"
)

// bundleReloadInterval is how often the webhook re-reads the bundle's
// admission part; a changed revision is compiled and swapped in, a broken
// one is logged and the last good one stays active.
const bundleReloadInterval = 10 * time.Second

// runWebhook runs the admission webhook until ctx ends.
func runWebhook(ctx context.Context, o *serveOptions, tel *telemetry.Telemetry, log *slog.Logger) error {
	log = log.With("component", "webhook")
	crlog.SetLogger(logr.FromSlogHandler(log.Handler()))

	opts := webhook.Options{Addr: o.webhookAddr, CertDir: o.certDir, Telemetry: tel, Logger: log}
	if o.selfSigned {
		hosts := []string{"localhost", "127.0.0.1"}
		if h, _, err := net.SplitHostPort(o.webhookAddr); err == nil && h != "" && h != "localhost" && h != "127.0.0.1" && h != "0.0.0.0" {
			hosts = append(hosts, h)
		}
		caPEM, cert, err := webhook.SelfSigned(hosts)
		if err != nil {
			return err
		}
		opts.Certificate = cert
		fmt.Fprintf(os.Stdout, "# agentguard webhook CA bundle (self-signed, in memory; hosts %v)\n# caBundle: %s\n%s",
			hosts, base64.StdEncoding.EncodeToString(caPEM), caPEM)
	}
	if cfg, err := crconfig.GetConfig(); err != nil {
		log.Warn("no Kubernetes configuration found: namespace labels are unknown, so pods are evaluated as if their namespace had no labels", "error", err)
	} else {
		client, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			return fmt.Errorf("kubernetes client: %w", err)
		}
		opts.Namespaces = webhook.NewClusterNamespaces(client, 0)
	}
	srv, err := webhook.NewServer(opts)
	if err != nil {
		return err
	}
	e, err := guardrails.LoadBundle(ctx, o.bundle)
	if err != nil {
		return err
	}
	srv.SetEngine(e)
	log.Info("admission config loaded", "bundle", o.bundle, "revision", e.Revision(), "addr", o.webhookAddr)
	go reloadBundle(ctx, srv, o.bundle, log)
	return srv.Start(ctx)
}

func reloadBundle(ctx context.Context, srv *webhook.Server, dir string, log *slog.Logger) {
	t := time.NewTicker(bundleReloadInterval)
	defer t.Stop()
	lastErr := ""
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rev, err := guardrails.BundleRevision(dir)
		if err == nil && rev == srv.Engine().Revision() {
			lastErr = ""
			continue // unchanged: nothing to compile
		}
		e, err := guardrails.LoadBundle(ctx, dir)
		if err != nil {
			if err.Error() != lastErr { // log each new problem once, not every tick
				log.Error("bundle reload failed; keeping the last good admission config", "bundle", dir, "revision", srv.Engine().Revision(), "error", err)
			}
			lastErr = err.Error()
			continue
		}
		lastErr = ""
		srv.SetEngine(e)
		log.Info("admission config reloaded", "bundle", dir, "revision", e.Revision())
	}
}
