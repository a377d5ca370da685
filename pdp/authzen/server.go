package authzen

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/agentguard/agentguard/audit"
	"github.com/agentguard/agentguard/internal/httpx"
	"github.com/agentguard/agentguard/pdp"
	"github.com/agentguard/agentguard/pdp/authn"
	"github.com/agentguard/agentguard/pdp/client"
	"github.com/agentguard/agentguard/pdp/grants"
)

// API paths (AuthZEN 1.0 §Transport, default paths).
const (
	PathEvaluation  = "/access/v1/evaluation"
	PathEvaluations = "/access/v1/evaluations"
	PathMetadata    = "/.well-known/authzen-configuration"
	// PathRequests is the Access Request endpoint (ARAP); tasks live under
	// it, with /approve, /deny and /cancel.
	PathRequests = "/access/v1/requests"
	// PathGrants lists grants (GET) and revokes one (POST {id}/revoke).
	PathGrants = "/access/v1/grants"
	// PathJWKS publishes the key that signs binding tokens.
	PathJWKS = "/access/v1/jwks"
)

// EngineSource returns the engine in force, or nil before the first bundle
// is loaded.
type EngineSource interface {
	Engine() *pdp.Engine
}

// EngineFunc adapts a function to EngineSource.
type EngineFunc func() *pdp.Engine

// Engine calls f.
func (f EngineFunc) Engine() *pdp.Engine { return f() }

// Options configures New.
type Options struct {
	// Engines supplies the engine for each request. Required.
	Engines EngineSource
	// Log receives request errors and, at debug level, one line per
	// decision. Default: discard.
	Log *slog.Logger
	// MeterProvider, TracerProvider and Propagator default to no-ops (and
	// W3C trace context for the propagator).
	MeterProvider  metric.MeterProvider
	TracerProvider trace.TracerProvider
	Propagator     propagation.TextMapPropagator
	// Metrics serves /metrics; nil leaves the path unrouted.
	Metrics http.Handler
	// BaseURL is the policy_decision_point identifier in the metadata.
	// Default: derived from each metadata request's Host.
	BaseURL string
	// HidePolicies leaves the determining policy ids out of responses;
	// default false (they are returned in context.policies).
	HidePolicies bool
	// MaxBodyBytes limits request bodies. Default httpx.MaxBodyBytes (1 MiB).
	MaxBodyBytes int64
	// Authenticator proves who calls the /access/v1 endpoints; the AuthZEN
	// subject must be the caller (or the caller a PEP that Cedar allows to
	// evaluate_for it). Required unless InsecureAllowUnauthenticated.
	Authenticator authn.Authenticator
	// InsecureAllowUnauthenticated serves without authentication, taking
	// the subject on the caller's word. For local experiments only.
	InsecureAllowUnauthenticated bool
	// AuthnHTTP tunes the 401/503 answers (realm, Retry-After, OnError).
	AuthnHTTP authn.HTTPOptions
	// Grants serves the access request API (AuthZEN Access Request and
	// Approval profile) and makes denials that a grant could lift
	// requestable; nil disables both.
	Grants *grants.Service
	// GrantStore, with Grants, records a grant's first use.
	GrantStore grants.Store
	// Signer publishes the binding-token key at /access/v1/jwks.
	Signer *grants.Signer
	// OnFallbackRecords receives the fallback decisions PEPs made while
	// the PDP was unreachable (POST /access/v1/fallback-records), with the
	// authenticated reporter, for the decision log. Nil: the endpoint
	// accepts and counts them only.
	OnFallbackRecords func(ctx context.Context, reporter *authn.Identity, batch client.RecordBatch)
	// Audit, when set, gets one record per decision and per reported
	// fallback decision (the tamper-evident decision log).
	Audit *audit.Log
	// Registerer takes the Prometheus collectors that OpenTelemetry has no
	// cheap form for (the decision latency histogram); usually the registry
	// the Metrics handler serves. Nil leaves them unregistered.
	Registerer prometheus.Registerer
	// Handlers are more routes served beside the API (ServeMux patterns,
	// e.g. "GET /v1/status"), so that the process needs no second mux in
	// front of this one on every decision.
	Handlers map[string]http.Handler
}

func (o *Options) setDefaults() {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.MeterProvider == nil {
		o.MeterProvider = metricnoop.NewMeterProvider()
	}
	if o.TracerProvider == nil {
		o.TracerProvider = tracenoop.NewTracerProvider()
	}
	if o.Propagator == nil {
		o.Propagator = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = httpx.MaxBodyBytes
	}
}

// Server is the AuthZEN HTTP API.
type Server struct {
	opts    Options
	mux     *http.ServeMux
	handler http.Handler
	// evaluation is the handler of PathEvaluation, authentication included.
	evaluation http.Handler
	tracer     trace.Tracer
	// tracing is false with the no-op tracer provider (no OTLP endpoint):
	// then no span is started at all, which saves two contexts and their
	// options on every decision. The caller's trace context is still read.
	tracing bool
	// propagated are the canonical header names the propagator reads.
	propagated []string
	metrics    *metrics
}

// New builds the API handler.
func New(opts Options) (*Server, error) {
	opts.setDefaults()
	if opts.Engines == nil {
		return nil, errors.New("authzen: Options.Engines is required")
	}
	if opts.Authenticator == nil && !opts.InsecureAllowUnauthenticated {
		return nil, errors.New("authzen: an Authenticator is required (or InsecureAllowUnauthenticated)")
	}
	m, err := newMetrics(opts.MeterProvider, opts.Registerer)
	if err != nil {
		return nil, err
	}
	s := &Server{
		opts:    opts,
		mux:     http.NewServeMux(),
		tracer:  opts.TracerProvider.Tracer("github.com/agentguard/agentguard/pdp/authzen"),
		tracing: !isNoop(opts.TracerProvider),
		metrics: m,
	}
	for _, f := range opts.Propagator.Fields() {
		s.propagated = append(s.propagated, http.CanonicalHeaderKey(f))
	}
	auth := func(h http.HandlerFunc) http.Handler { return h }
	if opts.Authenticator != nil {
		mw := authn.Middleware(opts.Authenticator, opts.AuthnHTTP)
		auth = func(h http.HandlerFunc) http.Handler { return mw(h) }
	}
	s.evaluation = auth(s.handleEvaluation)
	s.mux.Handle(PathEvaluation, s.evaluation)
	s.mux.Handle(PathEvaluations, auth(s.handleEvaluations))
	s.mux.HandleFunc(PathMetadata, s.handleMetadata)
	s.mux.Handle(client.PathFallbackRecords, auth(s.handleFallbackRecords))
	if opts.Grants != nil {
		s.mux.Handle("POST "+PathRequests, auth(s.handleSubmit))
		s.mux.Handle("GET "+PathRequests+"/{id}", auth(s.handleGetRequest))
		s.mux.Handle("POST "+PathRequests+"/{id}/{op}", auth(s.handleTransition))
		s.mux.Handle("DELETE "+PathRequests+"/{id}/cancel", auth(s.handleTransition))
		s.mux.Handle("GET "+PathGrants, auth(s.handleListGrants))
		s.mux.Handle("POST "+PathGrants+"/{id}/revoke", auth(s.handleRevoke))
		for _, p := range []string{PathRequests, PathRequests + "/{id}", PathRequests + "/{id}/{op}", PathGrants, PathGrants + "/{id}/revoke"} {
			s.mux.HandleFunc(p, methodNotAllowed)
		}
	}
	if opts.Signer != nil {
		s.mux.HandleFunc("GET "+PathJWKS, func(w http.ResponseWriter, _ *http.Request) {
			httpx.WriteJSON(w, http.StatusOK, opts.Signer.JWKS())
		})
	}
	s.mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		httpx.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	s.mux.HandleFunc("/readyz", s.handleReady)
	paths := map[string]bool{}
	for pattern, h := range opts.Handlers {
		s.mux.Handle(pattern, h)
		if _, path, ok := strings.Cut(pattern, " "); ok && !paths[path] {
			paths[path] = true
			s.mux.HandleFunc(path, methodNotAllowed) // other methods: 405, not 404
		}
	}
	if opts.Metrics != nil {
		s.mux.Handle("/metrics", opts.Metrics)
	}
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		httpx.WriteError(w, r, httpx.Errorf(http.StatusNotFound, "no such endpoint %q", r.URL.Path))
	})
	// The evaluation endpoint, asked before every tool call, skips the
	// mux's pattern matching.
	s.handler = httpx.WithRequestID(opts.Log, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == PathEvaluation {
			s.evaluation.ServeHTTP(w, r)
			return
		}
		s.mux.ServeHTTP(w, r)
	}))
	return s, nil
}

func isNoop(tp trace.TracerProvider) bool {
	switch tp.(type) {
	case tracenoop.TracerProvider, *tracenoop.TracerProvider:
		return true
	}
	return false
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	e := s.opts.Engines.Engine()
	if e == nil {
		httpx.WriteError(w, r, httpx.Errorf(http.StatusServiceUnavailable, "no policy bundle loaded yet"))
		return
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"status": "ready", "revision": e.Revision(), "policies": e.PolicyCount()})
}

// engine returns the engine in force or a 503 error.
func (s *Server) engine() (*pdp.Engine, error) {
	if e := s.opts.Engines.Engine(); e != nil {
		return e, nil
	}
	return nil, httpx.Errorf(http.StatusServiceUnavailable, "no policy bundle loaded yet")
}

func methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	httpx.WriteError(w, r, httpx.Errorf(http.StatusMethodNotAllowed, "method %s not allowed on %s", r.Method, r.URL.Path))
}

var _ http.Handler = (*Server)(nil)
