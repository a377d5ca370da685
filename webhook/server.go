package webhook

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	crwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/agentguard/agentguard/audit"
	"github.com/agentguard/agentguard/internal/httpx"
	"github.com/agentguard/agentguard/internal/telemetry"
	"github.com/agentguard/agentguard/webhook/guardrails"
	"github.com/agentguard/agentguard/webhook/images"
)

// DefaultMaxBodyBytes is the default AdmissionReview size limit: the API
// server caps an object at 3 MiB and a review carries the object and the
// old object, plus some envelope.
const DefaultMaxBodyBytes = 7 << 20

// Options configures a Server.
type Options struct {
	// Addr is the HTTPS listen address. Default "127.0.0.1:9443".
	Addr string
	// CertDir holds tls.crt and tls.key (reloaded when they change). Used
	// when Certificate is nil; required then.
	CertDir string
	// Certificate is an in-memory serving certificate (e.g. from
	// SelfSigned). It wins over CertDir.
	Certificate *tls.Certificate
	// Namespaces looks up namespace labels. Default: none (every namespace
	// has no labels), for running without a cluster.
	Namespaces NamespaceLabeler
	// Telemetry provides metrics and traces. Default telemetry.Noop().
	Telemetry *telemetry.Telemetry
	// Logger receives request logs. Default: discard.
	Logger *slog.Logger
	// MaxBodyBytes limits a request body; larger ones get 413. Default
	// DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Images verifies image signatures for bundles with an image policy.
	// Default: a verifier with anonymous registry access and no Secret
	// access (so no imagePullSecrets and no secretRef keys); give one
	// with images.Options.Secrets for those.
	Images *images.Verifier
	// Audit, when set, gets one decision-log record per admission review.
	Audit *audit.Log
}

func (o *Options) setDefaults() {
	if o.Addr == "" {
		o.Addr = "127.0.0.1:9443"
	}
	if o.Telemetry == nil {
		o.Telemetry = telemetry.Noop()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.Images == nil {
		// The defaults are valid, so NewVerifier cannot fail here.
		o.Images, _ = images.NewVerifier(images.Options{})
	}
}

// Server is the admission webhook: POST /validate and /mutate
// (AdmissionReview v1), /healthz, /readyz and /metrics, served over TLS by
// controller-runtime's webhook server.
type Server struct {
	opts     Options
	engine   atomic.Pointer[guardrails.Engine]
	reviewer *Reviewer
	mux      *http.ServeMux
	wh       crwebhook.Server
	log      *slog.Logger
	tracer   trace.Tracer
	metrics  serverMetrics
}

type serverMetrics struct {
	requests   metric.Int64Counter
	violations metric.Int64Counter
	duration   metric.Float64Histogram
}

// NewServer validates the options and builds a Server. It is not ready
// until SetEngine is called.
func NewServer(opts Options) (*Server, error) {
	opts.setDefaults()
	host, portStr, err := net.SplitHostPort(opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("webhook address %q: %w", opts.Addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port <= 0 || port > 65535 {
		return nil, fmt.Errorf("webhook address %q: bad port", opts.Addr)
	}
	if opts.Certificate == nil && opts.CertDir == "" {
		return nil, errors.New("webhook TLS: set a certificate directory (--cert-dir) or use a self-signed certificate (--self-signed)")
	}
	s := &Server{
		opts:     opts,
		reviewer: &Reviewer{Namespaces: opts.Namespaces, Images: opts.Images},
		mux:      http.NewServeMux(),
		log:      opts.Logger,
		tracer:   opts.Telemetry.TracerProvider.Tracer("github.com/agentguard/agentguard/webhook"),
	}
	meter := opts.Telemetry.MeterProvider.Meter("github.com/agentguard/agentguard/webhook")
	if s.metrics.requests, err = meter.Int64Counter("agentguard.admission.requests",
		metric.WithDescription("Admission reviews by webhook (validate, mutate) and outcome.")); err != nil {
		return nil, err
	}
	if s.metrics.violations, err = meter.Int64Counter("agentguard.admission.violations",
		metric.WithDescription("Guardrail violations by control ID, check and mode.")); err != nil {
		return nil, err
	}
	if s.metrics.duration, err = meter.Float64Histogram("agentguard.admission.duration", metric.WithUnit("s"),
		metric.WithDescription("Time to review one AdmissionReview."),
		metric.WithExplicitBucketBoundaries(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1)); err != nil {
		return nil, err
	}
	if err := registerImageMetrics(meter, opts.Images); err != nil {
		return nil, err
	}
	tlsOpts := []func(*tls.Config){func(c *tls.Config) { c.MinVersion = tls.VersionTLS12 }}
	if cert := opts.Certificate; cert != nil {
		tlsOpts = append(tlsOpts, func(c *tls.Config) {
			c.GetCertificate = func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return cert, nil }
		})
	}
	s.wh = crwebhook.NewServer(crwebhook.Options{
		Host:       host,
		Port:       port,
		CertDir:    opts.CertDir,
		TLSOpts:    tlsOpts,
		WebhookMux: s.mux,
	})
	s.wh.Register("/validate", &endpoint{s: s, name: "validate"})
	s.wh.Register("/mutate", &endpoint{s: s, name: "mutate", mutate: true})
	s.wh.Register("/healthz", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		httpx.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	}))
	s.wh.Register("/readyz", http.HandlerFunc(s.readyz))
	s.wh.Register("/metrics", opts.Telemetry.MetricsHandler())
	return s, nil
}

func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	e := s.Engine()
	if e == nil {
		httpx.WriteJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "admission config not loaded"})
		return
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok", "revision": e.Revision()})
}

// SetEngine installs the engine for a (new) bundle revision; the server is
// ready from then on.
func (s *Server) SetEngine(e *guardrails.Engine) { s.engine.Store(e) }

// Engine returns the active engine, or nil before SetEngine.
func (s *Server) Engine() *guardrails.Engine { return s.engine.Load() }

// Handler returns the server's routes without TLS, for in-process use
// (tests, benchmarks).
func (s *Server) Handler() http.Handler { return s.mux }

// Start serves until ctx ends.
func (s *Server) Start(ctx context.Context) error {
	return s.wh.Start(ctx)
}
