package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/agentguard/agentguard/internal/telemetry"
)

// serveOptions are the flags of `agentguard serve`.
type serveOptions struct {
	pdp     bool
	webhook bool
	bundle  string

	pdpAddr string

	webhookAddr string
	certDir     string
	selfSigned  bool
}

func newServeCmd(g *globalFlags) *cobra.Command {
	o := &serveOptions{}
	cmd := &cobra.Command{
		Use:   "serve [--pdp] [--webhook]",
		Short: "Run the policy decision point and/or the admission webhook",
		Long: `Run the policy decision point (AuthZEN 1.0 API, Cedar policies) and/or the
admission webhook (validating + mutating) with the bundle given by --bundle.
With neither --pdp nor --webhook, both run.

The PDP serves POST /access/v1/evaluation, POST /access/v1/evaluations,
GET /.well-known/authzen-configuration, /healthz, /readyz and /metrics on --pdp-addr.
Traces are exported over OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !o.pdp && !o.webhook {
				o.pdp, o.webhook = true, true
			}
			log, err := g.logger()
			if err != nil {
				return err
			}
			return runServe(cmd.Context(), o, log)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.pdp, "pdp", false, "run the policy decision point")
	f.BoolVar(&o.webhook, "webhook", false, "run the admission webhook")
	f.StringVar(&o.bundle, "bundle", "policies/", "bundle directory (its pdp/ and admission/ parts)")
	f.StringVar(&o.pdpAddr, "pdp-addr", "127.0.0.1:8181", "PDP listen address")
	f.StringVar(&o.webhookAddr, "webhook-addr", "127.0.0.1:9443", "admission webhook listen address (HTTPS)")
	f.StringVar(&o.certDir, "cert-dir", "", "directory with the webhook's tls.crt and tls.key")
	f.BoolVar(&o.selfSigned, "self-signed", false, "generate an in-memory CA and serving certificate for the webhook and print the CA bundle")
	return cmd
}

func runServe(parent context.Context, o *serveOptions, log *slog.Logger) error {
	if parent == nil {
		parent = context.Background()
	}
	ctx, stop := signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
	defer stop()

	tel, err := telemetry.Setup(ctx, telemetry.Options{
		Version:      version,
		OTLPEndpoint: os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT"),
	})
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5e9)
		defer cancel()
		_ = tel.Shutdown(sctx)
	}()

	grp, ctx := errgroup.WithContext(ctx)
	if o.pdp {
		grp.Go(func() error { return runPDP(ctx, o, tel, log) })
	}
	if o.webhook {
		grp.Go(func() error { return runWebhook(ctx, o, tel, log) })
	}
	err = grp.Wait()
	if errors.Is(err, context.Canceled) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}
