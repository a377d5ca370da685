package conformance

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/agentguard/agentguard/internal/telemetry"
	"github.com/agentguard/agentguard/internal/testenv"
	"github.com/agentguard/agentguard/webhook"
	"github.com/agentguard/agentguard/webhook/guardrails"
)

// This file is test/e2e/env_test.go adapted: test helpers are not
// importable across packages.

// cluster is a kube-apiserver + etcd started by envtest.
type cluster struct {
	env    *envtest.Environment
	cfg    *rest.Config
	client kubernetes.Interface
}

// startCluster starts envtest. KUBEBUILDER_ASSETS must point at the
// kube-apiserver and etcd binaries; `make test` sets it.
func startCluster(t *testing.T) *cluster {
	t.Helper()
	env, cfg := testenv.Start(t)
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &cluster{env: env, cfg: cfg, client: client}
}

// webhookProcess is the agentguard webhook running in this test process.
type webhookProcess struct {
	url    string
	caPEM  []byte
	cancel context.CancelFunc
	done   chan error
}

// startWebhook runs the webhook with the default bundle and a freshly
// generated self-signed certificate.
func startWebhook(t *testing.T, c *cluster, bundle string, tel *telemetry.Telemetry) *webhookProcess {
	t.Helper()
	port := freePort(t)
	caPEM, cert, err := webhook.SelfSigned([]string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	e, err := guardrails.LoadBundle(context.Background(), bundle)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := webhook.NewServer(webhook.Options{
		Addr:        "127.0.0.1:" + strconv.Itoa(port),
		Certificate: cert,
		Namespaces:  webhook.NewClusterNamespaces(c.client, time.Millisecond),
		Telemetry:   tel,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv.SetEngine(e)
	ctx, cancel := context.WithCancel(context.Background())
	wp := &webhookProcess{url: "https://127.0.0.1:" + strconv.Itoa(port), caPEM: caPEM, cancel: cancel, done: make(chan error, 1)}
	go func() { wp.done <- srv.Start(ctx) }()
	t.Cleanup(wp.stop)

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	hc := &http.Client{Timeout: time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := hc.Get(wp.url + "/readyz")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return wp
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("webhook not ready: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (wp *webhookProcess) stop() {
	if wp.cancel == nil {
		return
	}
	wp.cancel()
	wp.cancel = nil
	select {
	case err := <-wp.done:
		_ = err // the server stopped; a shutdown error does not matter here
	case <-time.After(70 * time.Second):
	}
}

func bundleDir(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the test source")
	}
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "policies")
}

func freePort(t *testing.T) int { return testenv.FreePort(t) }

// registerWebhooks registers wp as the chart would (see testenv).
func registerWebhooks(ctx context.Context, t *testing.T, c *cluster, wp *webhookProcess) {
	testenv.RegisterWebhooks(ctx, t, c.client, wp.url, wp.caPEM)
}

func must(t *testing.T, err error, what string, args ...any) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", fmt.Sprintf(what, args...), err)
	}
}
