package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/agentguard/agentguard/internal/testenv"
	"github.com/agentguard/agentguard/webhook"
	"github.com/agentguard/agentguard/webhook/guardrails"
)

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
func startWebhook(t *testing.T, c *cluster) *webhookProcess {
	t.Helper()
	e, err := guardrails.LoadBundle(context.Background(), bundleDir(t))
	if err != nil {
		t.Fatal(err)
	}
	return startWebhookWith(t, c, e)
}

// startWebhookWith runs the webhook with the given engine. The port is
// picked free and then bound by the server, so another process can take it
// in between: a failed start is retried on a new port.
func startWebhookWith(t *testing.T, c *cluster, e *guardrails.Engine) *webhookProcess {
	t.Helper()
	caPEM, cert, err := webhook.SelfSigned([]string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	hc := &http.Client{Timeout: time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port := freePort(t)
		srv, err := webhook.NewServer(webhook.Options{
			Addr:        "127.0.0.1:" + strconv.Itoa(port),
			Certificate: cert,
			Namespaces:  webhook.NewClusterNamespaces(c.client, time.Millisecond),
		})
		if err != nil {
			t.Fatal(err)
		}
		srv.SetEngine(e)
		ctx, cancel := context.WithCancel(context.Background())
		wp := &webhookProcess{url: "https://127.0.0.1:" + strconv.Itoa(port), caPEM: caPEM, cancel: cancel, done: make(chan error, 1)}
		go func() { wp.done <- srv.Start(ctx) }()
		if lastErr = wp.waitReady(hc); lastErr == nil {
			t.Cleanup(wp.stop)
			return wp
		}
		wp.stop()
	}
	t.Fatalf("webhook did not start: %v", lastErr)
	return nil
}

// waitReady polls /readyz until it answers 200, the server exits, or 30 s
// pass.
func (wp *webhookProcess) waitReady(hc *http.Client) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-wp.done:
			wp.cancel = nil
			if err == nil {
				err = errors.New("no error")
			}
			return fmt.Errorf("server exited before it was ready: %w", err)
		default:
		}
		resp, err := hc.Get(wp.url + "/readyz")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("/readyz: %s", resp.Status)
		}
		if time.Now().After(deadline) {
			return err
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
		_ = err // the server's own shutdown error is not what these tests check
	case <-time.After(70 * time.Second):
	}
}

func bundleDir(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the test source")
	}
	return filepath.Join(filepath.Dir(file), "..", "..", "policies")
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

// waitForWebhook blocks until the API server calls the webhook: the API
// server picks up new webhook configurations asynchronously.
func waitForWebhook(ctx context.Context, t *testing.T, c *cluster) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "webhook-probe", Labels: map[string]string{guardrails.LabelTenant: "team-a"}}}
	if _, err := c.client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("create namespace: %v", err)
	}
	probe := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "probe", Labels: map[string]string{guardrails.LabelAgent: "research-bot"}},
		Spec:       corev1.PodSpec{HostPID: true, Containers: []corev1.Container{{Name: "c", Image: "registry.corp.example/a:1"}}},
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := c.client.CoreV1().Pods(ns.Name).Create(ctx, probe, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err != nil && strings.Contains(err.Error(), "[AG-GEN-001]") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("webhook never took effect; last result: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
