package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/agentguard/agentguard/internal/telemetry"
)

// serveOptions are the flags of `agentguard serve`.
type serveOptions struct {
	pdp     bool
	webhook bool
	bundle  string

	auditDir    string
	auditKey    string
	decisionLog bool

	bundlePubKeys            []string
	insecureSkipBundleVerify bool
	bundleMinRevision        string
	bundlePollInterval       time.Duration

	pdpAddr string
	dataDir string

	// PDP caller authentication.
	authTokenFile       string
	authKubernetes      bool
	authAudience        string
	pdpTLSCertDir       string
	spiffeTrustDomain   string
	spiffeBundle        string
	insecureNoAuth      bool
	grantStore          string
	grantSigningKeyFile string
	pdpBaseURL          string
	allowUnboundTokens  bool
	agentRegistry       bool
	defaultTenant       string
	grantNamespace      string

	webhookAddr string
	certDir     string
	selfSigned  bool

	certRotation certRotationOptions

	pprofAddr string
}

func newServeCmd(g *globalFlags) *cobra.Command {
	o := &serveOptions{}
	cmd := &cobra.Command{
		Use:   "serve [--pdp] [--webhook]",
		Short: "Run the policy decision point and/or the admission webhook",
		Long: `Run the policy decision point (AuthZEN 1.0 API, Cedar policies) and/or the
admission webhook (validating + mutating) with the bundle given by --bundle.
With neither --pdp nor --webhook, both run; both switch to a new bundle together,
and only after its signature verifies (--bundle-pubkey) and it compiles.

The PDP serves POST /access/v1/evaluation, POST /access/v1/evaluations,
GET /.well-known/authzen-configuration, the access request API under
/access/v1/requests and /access/v1/grants, /v1/status, /healthz, /readyz and
/metrics on --pdp-addr. Callers must authenticate (--auth-kubernetes,
--auth-token-file or SPIFFE mTLS). Every decision goes to the decision log in
--data-dir. Traces and log records are exported over OTLP when
OTEL_EXPORTER_OTLP_ENDPOINT is set.`,
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
	f.StringVar(&o.bundle, "bundle", "policies/", "bundle source: a directory (watched), a .tar.gz file, https://... or oci://...")
	f.BoolVar(&o.decisionLog, "decision-log", true, "keep the tamper-evident decision log; false drops every record (only for measurements: the log is what audits rely on)")
	f.StringVar(&o.auditDir, "audit-dir", "", "directory of the tamper-evident decision log (default: <data-dir>/audit)")
	f.StringVar(&o.auditKey, "audit-key", "", "Ed25519 private key (PEM) that signs the decision log's checkpoints (default: generated once in --data-dir; its public key is written beside it for 'agentguard audit verify')")
	f.StringArrayVar(&o.bundlePubKeys, "bundle-pubkey", nil, "PEM public key that bundle signatures must verify against (repeatable)")
	f.BoolVar(&o.insecureSkipBundleVerify, "insecure-skip-bundle-verify", false, "INSECURE: activate bundles without verifying their signature (editing policies/ live)")
	f.StringVar(&o.bundleMinRevision, "bundle-min-revision", "", "refuse bundles older than this revision (replay protection)")
	f.DurationVar(&o.bundlePollInterval, "bundle-poll-interval", 30*time.Second, "how often https:// and oci:// sources are polled")
	f.StringVar(&o.pdpAddr, "pdp-addr", "127.0.0.1:8181", "PDP listen address")
	f.StringVar(&o.dataDir, "data-dir", defaultDataDir(), "directory for local state: the standalone grant store and the generated binding-token key")
	f.StringVar(&o.authTokenFile, "auth-token-file", "", "static token file (hashes of bearer tokens and their principals) for standalone and dev use")
	f.BoolVar(&o.authKubernetes, "auth-kubernetes", false, "authenticate PDP callers by Kubernetes ServiceAccount tokens (TokenReview)")
	f.StringVar(&o.authAudience, "auth-audience", "agentguard-pdp", "audience the ServiceAccount tokens must be issued for")
	f.BoolVar(&o.allowUnboundTokens, "auth-allow-unbound-tokens", false, "accept ServiceAccount tokens not bound to a pod (they outlive their pod: AG-SEC-007)")
	f.BoolVar(&o.agentRegistry, "agent-registry", false, "take Agent entities from the cluster: ServiceAccounts labelled agentguard.io/agent, tenant from the namespace label agentguard.io/tenant")
	f.StringVar(&o.defaultTenant, "agent-registry-default-tenant", "", "tenant of registered agents whose namespace has no agentguard.io/tenant label (default: leave them out)")
	f.StringVar(&o.pdpTLSCertDir, "pdp-tls-cert-dir", "", "serve the PDP over TLS with tls.crt and tls.key from this directory")
	f.StringVar(&o.spiffeTrustDomain, "spiffe-trust-domain", "", "accept mTLS callers with X.509-SVIDs of this trust domain (needs --pdp-tls-cert-dir and --spiffe-bundle)")
	f.StringVar(&o.spiffeBundle, "spiffe-bundle", "", "PEM file with the trust domain's X.509 authorities")
	f.BoolVar(&o.insecureNoAuth, "insecure-allow-unauthenticated", false, "INSECURE: serve the PDP without authenticating callers, trusting the subject in each request")
	f.StringVar(&o.grantStore, "grant-store", "bolt", "where just-in-time grants live: bolt (a file in --data-dir) or kubernetes (AgentGrant resources)")
	f.StringVar(&o.grantSigningKeyFile, "grant-signing-key", "", "Ed25519 private key (PKCS#8 PEM) signing access-request binding tokens; every replica needs the same one (default: generated in --data-dir)")
	f.StringVar(&o.grantNamespace, "grant-namespace", os.Getenv("POD_NAMESPACE"), "namespace of the AgentGrant resources with --grant-store kubernetes (default: $POD_NAMESPACE)")
	f.StringVar(&o.pdpBaseURL, "pdp-base-url", "", "the PDP's public base URL for metadata and task links (default: from each request's Host)")
	f.StringVar(&o.webhookAddr, "webhook-addr", "127.0.0.1:9443", "admission webhook listen address (HTTPS)")
	f.StringVar(&o.certDir, "cert-dir", "", "directory with the webhook's tls.crt and tls.key")
	f.BoolVar(&o.selfSigned, "self-signed", false, "generate an in-memory CA and serving certificate for the webhook and print the CA bundle")
	f.StringVar(&o.pprofAddr, "pprof-addr", "", "serve Go's runtime profiles (net/http/pprof) on this address, e.g. 127.0.0.1:6060 (off by default; keep it on loopback)")
	addCertRotationFlags(f, &o.certRotation)
	return cmd
}

// defaultDataDir is $XDG_STATE_HOME/agentguard or ~/.local/state/agentguard.
func defaultDataDir() string {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "agentguard")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "state", "agentguard")
	}
	return "agentguard-state"
}

func runServe(parent context.Context, o *serveOptions, log *slog.Logger) error {
	if parent == nil {
		parent = context.Background()
	}
	ctx, stop := signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if os.Getenv("GOGC") == "" {
		// The servers' live heap is small (policies, caches) and their
		// garbage short-lived: collecting at 4x the live heap instead of 2x
		// halves GC work per decision. GOGC and GOMEMLIMIT still override.
		debug.SetGCPercent(400)
	}

	tel, err := telemetry.Setup(ctx, telemetry.Options{
		Version:      version,
		OTLPEndpoint: os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT"),
		OTLPProtocol: os.Getenv("OTEL_EXPORTER_OTLP_PROTOCOL"),
	})
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5e9)
		defer cancel()
		_ = tel.Shutdown(sctx)
	}()

	if err := os.MkdirAll(o.dataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	p, err := newProcess(o, tel, log)
	if err != nil {
		return err
	}
	if o.decisionLog {
		if p.audit, err = openAudit(o, tel, log); err != nil {
			return err
		}
	} else {
		log.Warn("the decision log is off (--decision-log=false): decisions leave no tamper-evident record")
	}
	defer func() {
		if p.audit == nil {
			return
		}
		if err := p.audit.Close(); err != nil {
			log.Error("closing the decision log", "error", err)
		}
	}()
	if p.registry != nil {
		if err := p.registry.Start(ctx); err != nil {
			return fmt.Errorf("agent registry: %w", err)
		}
		log.Info("agent registry synced", "agents", p.registry.Len())
	}
	grp, ctx := errgroup.WithContext(ctx)
	grp.Go(func() error { return p.bundles.Run(ctx) })
	if o.pprofAddr != "" {
		grp.Go(func() error { return runPprof(ctx, o.pprofAddr, log) })
	}
	if o.pdp {
		grp.Go(func() error { return runPDP(ctx, o, p, tel, log) })
	}
	if o.webhook {
		grp.Go(func() error { return runWebhook(ctx, o, p, tel, log) })
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
