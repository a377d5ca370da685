package authzen

import (
	"errors"
	"log/slog"
	"net/http"

	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/agentguard/agentguard/internal/httpx"
	"github.com/agentguard/agentguard/pdp"
)

// API paths (AuthZEN 1.0 §Transport, default paths).
const (
	PathEvaluation  = "/access/v1/evaluation"
	PathEvaluations = "/access/v1/evaluations"
	PathMetadata    = "/.well-known/authzen-configuration"
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
		o.Propagator = propagation.TraceContext{}
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
	tracer  trace.Tracer
	metrics *metrics
}

// New builds the API handler.
func New(opts Options) (*Server, error) {
	opts.setDefaults()
	if opts.Engines == nil {
		return nil, errors.New("authzen: Options.Engines is required")
	}
	m, err := newMetrics(opts.MeterProvider)
	if err != nil {
		return nil, err
	}
	s := &Server{
		opts:    opts,
		mux:     http.NewServeMux(),
		tracer:  opts.TracerProvider.Tracer("github.com/agentguard/agentguard/pdp/authzen"),
		metrics: m,
	}
	s.mux.HandleFunc(PathEvaluation, s.handleEvaluation)
	s.mux.HandleFunc(PathEvaluations, s.handleEvaluations)
	s.mux.HandleFunc(PathMetadata, s.handleMetadata)
	s.mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		httpx.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	s.mux.HandleFunc("/readyz", s.handleReady)
	if opts.Metrics != nil {
		s.mux.Handle("/metrics", opts.Metrics)
	}
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		httpx.WriteError(w, r, httpx.Errorf(http.StatusNotFound, "no such endpoint %q", r.URL.Path))
	})
	s.handler = httpx.WithRequestID(opts.Log, s.mux)
	return s, nil
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

var _ http.Handler = (*Server)(nil)
