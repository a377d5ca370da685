package conformance

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port
}

// exemptSelector keeps the webhooks away from the namespaces that must keep
// working when agentguard is down.
var exemptSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
	Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpNotIn,
	Values: []string{"kube-system", "agentguard-system"},
}}}

func webhookRules(ops ...admissionregistrationv1.OperationType) []admissionregistrationv1.RuleWithOperations {
	rule := func(group, version string, resources ...string) admissionregistrationv1.RuleWithOperations {
		return admissionregistrationv1.RuleWithOperations{Operations: ops, Rule: admissionregistrationv1.Rule{
			APIGroups: []string{group}, APIVersions: []string{version}, Resources: resources,
		}}
	}
	return []admissionregistrationv1.RuleWithOperations{
		rule("", "v1", "pods", "pods/ephemeralcontainers"),
		rule("apps", "v1", "deployments", "statefulsets", "daemonsets", "replicasets"),
		rule("batch", "v1", "jobs", "cronjobs"),
	}
}

// registerWebhooks creates the Mutating- and ValidatingWebhookConfiguration
// pointing at wp, as the Helm chart does for the in-cluster Service.
func registerWebhooks(ctx context.Context, t *testing.T, c *cluster, wp *webhookProcess) {
	t.Helper()
	none := admissionregistrationv1.SideEffectClassNone
	fail := admissionregistrationv1.Fail
	timeout := int32(5)
	ifNeeded := admissionregistrationv1.IfNeededReinvocationPolicy
	equivalent := admissionregistrationv1.Equivalent
	cc := func(path string) admissionregistrationv1.WebhookClientConfig {
		u := wp.url + path
		return admissionregistrationv1.WebhookClientConfig{URL: &u, CABundle: wp.caPEM}
	}
	mwc := &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "agentguard"},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name: "mutate.agentguard.io", ClientConfig: cc("/mutate"),
			Rules:       webhookRules(admissionregistrationv1.Create, admissionregistrationv1.Update),
			SideEffects: &none, FailurePolicy: &fail, TimeoutSeconds: &timeout, MatchPolicy: &equivalent,
			NamespaceSelector: exemptSelector, ReinvocationPolicy: &ifNeeded, AdmissionReviewVersions: []string{"v1"},
		}},
	}
	nsRule := admissionregistrationv1.RuleWithOperations{
		Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
		Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"namespaces", "secrets"}},
	}
	vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "agentguard"},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{
			Name: "validate.agentguard.io", ClientConfig: cc("/validate"),
			Rules:       append(webhookRules(admissionregistrationv1.Create, admissionregistrationv1.Update), nsRule),
			SideEffects: &none, FailurePolicy: &fail, TimeoutSeconds: &timeout, MatchPolicy: &equivalent,
			NamespaceSelector: exemptSelector, AdmissionReviewVersions: []string{"v1"},
		}},
	}
	if _, err := c.client.AdmissionregistrationV1().MutatingWebhookConfigurations().Create(ctx, mwc, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create MutatingWebhookConfiguration: %v", err)
	}
	if _, err := c.client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(ctx, vwc, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create ValidatingWebhookConfiguration: %v", err)
	}
}

func must(t *testing.T, err error, what string, args ...any) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", fmt.Sprintf(what, args...), err)
	}
}
