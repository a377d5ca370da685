package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net"
	"os"

	"github.com/go-logr/logr"
	"k8s.io/client-go/kubernetes"
	crconfig "sigs.k8s.io/controller-runtime/pkg/client/config"
	crlog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/agentguard/agentguard/internal/telemetry"
	"github.com/agentguard/agentguard/webhook"
	"github.com/agentguard/agentguard/webhook/images"
)

// runWebhook runs the admission webhook until ctx ends.
func runWebhook(ctx context.Context, o *serveOptions, p *process, tel *telemetry.Telemetry, log *slog.Logger) error {
	log = log.With("component", "webhook")
	crlog.SetLogger(logr.FromSlogHandler(log.Handler()))

	if err := startCertRotation(ctx, o, log); err != nil {
		return err
	}
	opts := webhook.Options{Addr: o.webhookAddr, CertDir: o.certDir, Telemetry: tel, Logger: log, Audit: p.audit}
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
		// Image signatures: pods' imagePullSecrets and keys kept in
		// Secrets are read from the cluster.
		if opts.Images, err = images.NewVerifier(images.Options{Secrets: images.NewClusterSecrets(client)}); err != nil {
			return fmt.Errorf("image verifier: %w", err)
		}
	}
	srv, err := webhook.NewServer(opts)
	if err != nil {
		return err
	}
	p.onActivate(func(a *activation) {
		srv.SetEngine(a.admission)
		log.Info("admission config active", "revision", a.revision, "addr", o.webhookAddr)
	})
	return srv.Start(ctx)
}
