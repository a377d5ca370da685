package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/kubernetes"
	crconfig "sigs.k8s.io/controller-runtime/pkg/client/config"

	"github.com/agentguard/agentguard/internal/httpx"
	"github.com/agentguard/agentguard/internal/telemetry"
	"github.com/agentguard/agentguard/pdp/authn"
	"github.com/agentguard/agentguard/pdp/authzen"
	"github.com/agentguard/agentguard/pdp/grants"
)

// runPDP serves the AuthZEN API with the process's active bundle until ctx
// ends. Until a verified bundle is active, /readyz is false and decisions
// are 503: the PDP never answers from no policy.
func runPDP(ctx context.Context, o *serveOptions, p *process, tel *telemetry.Telemetry, log *slog.Logger) error {
	log = log.With("component", "pdp")
	live := p.grants

	authenticator, tlsCfg, err := pdpAuthn(o, log)
	if err != nil {
		return err
	}
	store, closeStore, err := openGrantStore(o, log)
	if err != nil {
		return err
	}
	defer closeStore()
	signer, err := grantSigner(o)
	if err != nil {
		return err
	}
	audit := grantAuditor(p.audit)
	svc, err := grants.NewService(grants.Options{Store: store, Engines: p.PDP, Signer: signer, OnEvent: func(r *grants.Request, e grants.Event) {
		// What this replica stored it honours at once, without waiting for
		// its watch.
		grants.Apply(live, r)
		audit(r, e)
	}})
	if err != nil {
		return err
	}
	states := &grantStates{}
	go func() {
		err := store.Watch(ctx, func(r *grants.Request) {
			grants.Apply(live, r)
			states.see(r)
		})
		if err != nil && ctx.Err() == nil {
			log.Error("grant sync stopped: grants approved elsewhere no longer reach this PDP", "error", err)
		}
	}()
	go grants.Janitor(ctx, store, live, time.Now, time.Minute, svc.EventFunc())
	health := &grantHealth{}
	if err := registerGrantMetrics(tel, live, states); err != nil {
		return err
	}
	go reconcileGrants(ctx, store, live, health, 15*time.Second, log)

	status := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		gs := health.status(o.grantStore, live)
		bs := p.bundles.Status()
		state := "ok"
		if gs["degraded"] != nil || !bs.Active || bs.ConsecutiveFailures > 0 {
			state = "degraded"
		}
		httpx.WriteJSON(w, http.StatusOK, map[string]any{"status": state, "bundle": bs, "grants": gs})
	})
	api, err := authzen.New(authzen.Options{
		Engines:                      authzen.EngineFunc(p.PDP),
		Log:                          log,
		MeterProvider:                tel.MeterProvider,
		TracerProvider:               tel.TracerProvider,
		Propagator:                   tel.Propagator,
		Metrics:                      tel.MetricsHandler(),
		Registerer:                   tel.Registry,
		BaseURL:                      o.pdpBaseURL,
		Authenticator:                authenticator,
		InsecureAllowUnauthenticated: o.insecureNoAuth,
		AuthnHTTP: authn.HTTPOptions{OnError: func(r *http.Request, err error) {
			log.InfoContext(r.Context(), "authentication failed", "remote", r.RemoteAddr, "path", r.URL.Path, "error", err)
		}},
		Grants:     svc,
		GrantStore: store,
		Signer:     signer,
		Audit:      p.audit,
		Handlers:   map[string]http.Handler{"GET /v1/status": status},
	})
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:   api,
		TLSConfig: tlsCfg,
		// Equal header and whole-request limits spare net/http one
		// deadline change per request.
		ReadHeaderTimeout: 10 * time.Second,
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
	scheme := "http"
	if tlsCfg != nil {
		scheme = "https"
		ln = tls.NewListener(ln, tlsCfg)
	}
	log.Info("PDP serving AuthZEN 1.0", "addr", scheme+"://"+ln.Addr().String(), "evaluation", authzen.PathEvaluation, "grant_store", o.grantStore)

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

// pdpAuthn builds the caller authentication from the flags: static tokens,
// ServiceAccount tokens (TokenReview), SPIFFE mTLS; at least one unless
// --insecure-allow-unauthenticated.
func pdpAuthn(o *serveOptions, log *slog.Logger) (authn.Authenticator, *tls.Config, error) {
	var chain []authn.Authenticator
	var tlsCfg *tls.Config
	if o.pdpTLSCertDir != "" {
		cert, err := tls.LoadX509KeyPair(filepath.Join(o.pdpTLSCertDir, "tls.crt"), filepath.Join(o.pdpTLSCertDir, "tls.key"))
		if err != nil {
			return nil, nil, fmt.Errorf("pdp tls: %w", err)
		}
		tlsCfg = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
		if o.spiffeTrustDomain != "" {
			td, bundle, err := authn.LoadSPIFFEBundle(o.spiffeTrustDomain, o.spiffeBundle)
			if err != nil {
				return nil, nil, err
			}
			tlsCfg, err = authn.ServerTLSConfig(authn.TLSOptions{TrustDomain: td, Bundle: bundle, Certificate: &cert, ClientCertOptional: true})
			if err != nil {
				return nil, nil, err
			}
			sp, err := authn.NewSPIFFE(authn.SPIFFEOptions{TrustDomain: td, Bundle: bundle})
			if err != nil {
				return nil, nil, err
			}
			chain = append(chain, sp)
		}
	} else if o.spiffeTrustDomain != "" {
		return nil, nil, errors.New("--spiffe-trust-domain needs --pdp-tls-cert-dir (mTLS)")
	}
	if o.authTokenFile != "" {
		st, err := authn.LoadStaticTokens(o.authTokenFile)
		if err != nil {
			return nil, nil, err
		}
		chain = append(chain, st)
	}
	if o.authKubernetes {
		cfg, err := crconfig.GetConfig()
		if err != nil {
			return nil, nil, fmt.Errorf("--auth-kubernetes: %w", err)
		}
		cs, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			return nil, nil, err
		}
		tr, err := authn.NewTokenReview(authn.TokenReviewOptions{
			Client: cs.AuthenticationV1().TokenReviews(), Audience: o.authAudience, AllowUnboundTokens: o.allowUnboundTokens,
		})
		if err != nil {
			return nil, nil, err
		}
		chain = append(chain, tr)
	}
	switch {
	case len(chain) > 0:
		return authn.Chain(chain...), tlsCfg, nil
	case o.insecureNoAuth:
		log.Warn("INSECURE: the PDP authenticates nobody and trusts the subject named in each request (--insecure-allow-unauthenticated)")
		return nil, tlsCfg, nil
	}
	return nil, nil, errors.New("the PDP needs caller authentication: --auth-token-file, --auth-kubernetes or --spiffe-trust-domain (or, for experiments only, --insecure-allow-unauthenticated)")
}

// openGrantStore opens the store named by --grant-store.
func openGrantStore(o *serveOptions, log *slog.Logger) (grants.Store, func(), error) {
	switch o.grantStore {
	case "bolt":
		s, err := grants.OpenBolt(filepath.Join(o.dataDir, "grants.db"))
		if err != nil {
			return nil, nil, err
		}
		return s, func() { _ = s.Close() }, nil
	case "kubernetes":
		return openKubeGrantStore(o, log)
	}
	return nil, nil, fmt.Errorf("--grant-store %q: want bolt or kubernetes", o.grantStore)
}

// grantSigner loads --grant-signing-key, or generates a key once and keeps
// it in the data directory.
func grantSigner(o *serveOptions) (*grants.Signer, error) {
	path := o.grantSigningKeyFile
	if path == "" {
		path = filepath.Join(o.dataDir, "binding-key.pem")
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			_, key, err := ed25519.GenerateKey(rand.Reader)
			if err != nil {
				return nil, err
			}
			der, err := x509.MarshalPKCS8PrivateKey(key)
			if err != nil {
				return nil, err
			}
			if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
				return nil, err
			}
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("grant signing key: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("grant signing key %s: no PEM block", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("grant signing key %s: %w", path, err)
	}
	key, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("grant signing key %s: want an Ed25519 key", path)
	}
	pub := key.Public().(ed25519.PublicKey)
	kid := fmt.Sprintf("%x", pub[:8])
	iss := o.pdpBaseURL
	if iss == "" {
		iss = "agentguard-pdp"
	}
	return grants.NewSigner(key, kid, iss)
}
