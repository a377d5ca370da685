package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/agentguard/agentguard/internal/telemetry"
	"github.com/agentguard/agentguard/pdp"
	"github.com/agentguard/agentguard/pdp/authzen"
)

// runPDP loads the bundle's Cedar part and serves the AuthZEN API until ctx
// ends. An invalid bundle stops the server before it listens: the PDP never
// answers from a policy set it could not validate.
func runPDP(ctx context.Context, o *serveOptions, tel *telemetry.Telemetry, log *slog.Logger) error {
	log = log.With("component", "pdp")
	var current atomic.Pointer[pdp.Engine]
	eng, err := pdp.Load(o.bundle, pdp.Options{})
	if err != nil {
		return fmt.Errorf("load bundle %q: %w", o.bundle, err)
	}
	current.Store(eng)
	log.Info("bundle loaded", "bundle", o.bundle, "revision", eng.Revision(), "policies", eng.PolicyCount())

	api, err := authzen.New(authzen.Options{
		Engines:        authzen.EngineFunc(current.Load),
		Log:            log,
		MeterProvider:  tel.MeterProvider,
		TracerProvider: tel.TracerProvider,
		Propagator:     tel.Propagator,
		Metrics:        tel.MetricsHandler(),
	})
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           api,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", o.pdpAddr)
	if err != nil {
		return fmt.Errorf("pdp listen: %w", err)
	}
	log.Info("PDP serving AuthZEN 1.0", "addr", "http://"+ln.Addr().String(), "evaluation", authzen.PathEvaluation)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("pdp: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return ctx.Err()
}
