package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/client-go/kubernetes"
	crconfig "sigs.k8s.io/controller-runtime/pkg/client/config"

	"github.com/agentguard/agentguard/internal/certrotator"
)

// certRotationOptions are the flags of the webhook's self-managed CA (used
// by the Helm chart when cert-manager is off).
type certRotationOptions struct {
	enabled        bool
	secret         string
	namespace      string
	service        string
	webhookConfigs []string
}

func addCertRotationFlags(f *pflag.FlagSet, o *certRotationOptions) {
	f.BoolVar(&o.enabled, "cert-rotation", false, "manage the webhook's CA and serving certificate in a Secret, write them to --cert-dir, keep the webhook configurations' caBundle current and rotate before expiry")
	f.StringVar(&o.secret, "cert-secret", "agentguard-webhook-tls", "Secret holding the CA and serving certificate with --cert-rotation")
	f.StringVar(&o.namespace, "cert-namespace", os.Getenv("POD_NAMESPACE"), "namespace of --cert-secret and --webhook-service (default: $POD_NAMESPACE)")
	f.StringVar(&o.service, "webhook-service", "agentguard-webhook", "Service in front of the webhook: the certificate's DNS names, and the webhooks whose caBundle is kept current")
	f.StringArrayVar(&o.webhookConfigs, "webhook-config-name", []string{"agentguard"}, "Validating- and MutatingWebhookConfiguration to keep the caBundle of (repeatable; never created)")
}

// startCertRotation makes sure --cert-dir holds a current certificate before
// the webhook server starts, then keeps it current until ctx ends.
func startCertRotation(ctx context.Context, o *serveOptions, log *slog.Logger) error {
	c := o.certRotation
	if !c.enabled {
		return nil
	}
	switch {
	case o.certDir == "":
		return errors.New("--cert-rotation needs --cert-dir (where the certificate is written)")
	case o.selfSigned:
		return errors.New("--cert-rotation and --self-signed exclude each other")
	case c.namespace == "":
		return errors.New("--cert-rotation needs --cert-namespace (or $POD_NAMESPACE)")
	}
	cfg, err := crconfig.GetConfig()
	if err != nil {
		return fmt.Errorf("--cert-rotation: %w", err)
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("--cert-rotation: %w", err)
	}
	log = log.With("component", "cert-rotation", "secret", c.namespace+"/"+c.secret)
	r, err := certrotator.New(certrotator.Options{
		Client: client, Namespace: c.namespace, SecretName: c.secret, Service: c.service,
		WebhookConfigs: c.webhookConfigs, CertDir: o.certDir,
		OnError: func(err error) { log.Warn("certificate check failed; retrying", "error", err) },
		OnRotate: func(ca bool) {
			log.Info("webhook certificate issued", "newCA", ca)
		},
	})
	if err != nil {
		return err
	}
	// Replicas starting together race on the Secret; the losers retry and
	// adopt the winner's certificate.
	for delay := 500 * time.Millisecond; ; delay = min(2*delay, 30*time.Second) {
		err := r.Sync(ctx)
		if err == nil {
			break
		}
		log.Warn("webhook certificate not ready; retrying", "error", err, "in", delay)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
	}
	log.Info("webhook certificate ready", "hosts", r.Hosts())
	go func() { _ = r.Run(ctx) }()
	return nil
}
