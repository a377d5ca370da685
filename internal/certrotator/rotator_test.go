package certrotator

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

const ns = "agentguard-system"

func webhookConfigs() (*admissionregistrationv1.ValidatingWebhookConfiguration, *admissionregistrationv1.MutatingWebhookConfiguration) {
	svc := func(name string) admissionregistrationv1.WebhookClientConfig {
		return admissionregistrationv1.WebhookClientConfig{Service: &admissionregistrationv1.ServiceReference{Name: name, Namespace: ns}}
	}
	v := &admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "agentguard"},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{
			{Name: "validate.agentguard.io", ClientConfig: svc("agentguard-webhook")},
			{Name: "other.example.com", ClientConfig: svc("someone-else")},
		}}
	m := &admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "agentguard"},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{Name: "mutate.agentguard.io", ClientConfig: svc("agentguard-webhook")}}}
	return v, m
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newRotator(t *testing.T, objs ...any) (*Rotator, *fake.Clientset, *clock, string) {
	t.Helper()
	var ros []runtimeObject
	for _, o := range objs {
		ros = append(ros, o.(runtimeObject))
	}
	cs := fake.NewClientset(toRuntime(ros)...)
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	dir := t.TempDir()
	r, err := New(Options{Client: cs, Namespace: ns, SecretName: "agentguard-webhook-tls", Service: "agentguard-webhook",
		WebhookConfigs: []string{"agentguard", "missing"}, CertDir: dir, Now: c.now,
		CAValidity: 300 * 24 * time.Hour, CertValidity: 30 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return r, cs, c, dir
}

// served loads the files the webhook server would serve and verifies the
// chain against the CA bundle of the validating webhook, as the API server
// does.
func served(t *testing.T, cs *fake.Clientset, dir string, now time.Time) *x509.Certificate {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"))
	if err != nil {
		t.Fatalf("served key pair: %v", err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	v, err := cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(context.Background(), "agentguard", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(v.Webhooks[0].ClientConfig.CABundle) {
		t.Fatal("validating webhook has no CA bundle")
	}
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: "agentguard-webhook.agentguard-system.svc", Roots: pool, CurrentTime: now}); err != nil {
		t.Fatalf("served certificate does not verify against the caBundle: %v", err)
	}
	if len(v.Webhooks[1].ClientConfig.CABundle) != 0 {
		t.Error("caBundle injected into a webhook of another service")
	}
	m, err := cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(context.Background(), "agentguard", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if string(m.Webhooks[0].ClientConfig.CABundle) != string(v.Webhooks[0].ClientConfig.CABundle) {
		t.Error("mutating and validating caBundle differ")
	}
	return leaf
}

func countWrites(cs *fake.Clientset, resource string) int {
	n := 0
	for _, a := range cs.Actions() {
		if a.GetResource().Resource == resource && (a.GetVerb() == "update" || a.GetVerb() == "create") {
			n++
		}
	}
	return n
}

func TestRotation(t *testing.T) {
	ctx := context.Background()
	v, m := webhookConfigs()
	empty := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "agentguard-webhook-tls", Namespace: ns}}
	r, cs, c, dir := newRotator(t, v, m, empty)

	if err := r.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	first := served(t, cs, dir, c.t)
	if got := countWrites(cs, "secrets"); got != 1 {
		t.Fatalf("secret writes after first sync = %d, want 1", got)
	}

	// Nothing due: no writes.
	c.t = c.t.Add(24 * time.Hour)
	if err := r.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if got := countWrites(cs, "secrets"); got != 1 {
		t.Errorf("secret writes with nothing due = %d, want 1", got)
	}
	if got := countWrites(cs, "validatingwebhookconfigurations"); got != 1 {
		t.Errorf("validating webhook writes = %d, want 1", got)
	}

	// Past two thirds of the serving certificate's life: new certificate,
	// same CA.
	c.t = c.t.Add(20 * 24 * time.Hour)
	if err := r.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	second := served(t, cs, dir, c.t)
	if second.SerialNumber.Cmp(first.SerialNumber) == 0 {
		t.Fatal("serving certificate not renewed")
	}
	if string(second.RawIssuer) != string(first.RawIssuer) || second.AuthorityKeyId == nil {
		t.Error("renewal changed the CA")
	}

	// Past two thirds of the CA's life: new CA; the previous one stays in
	// the bundle, so a replica still serving the old certificate verifies.
	c.t = c.t.Add(190 * 24 * time.Hour)
	if err := r.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	third := served(t, cs, dir, c.t)
	if string(third.AuthorityKeyId) == string(second.AuthorityKeyId) {
		t.Fatal("CA not rotated")
	}
	vw, _ := cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, "agentguard", metav1.GetOptions{})
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(vw.Webhooks[0].ClientConfig.CABundle)
	if _, err := second.Verify(x509.VerifyOptions{DNSName: "agentguard-webhook", Roots: pool, CurrentTime: second.NotAfter.Add(-time.Minute)}); err != nil {
		t.Errorf("certificate of the previous CA no longer trusted during the overlap: %v", err)
	}
	ca, _ := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if len(ca) == 0 {
		t.Error("ca.crt not written")
	}
}

// After an uninstall deleted the webhook configurations, the rotator (still
// running in a terminating pod) must not bring them back.
func TestNeverCreatesWebhookConfigurations(t *testing.T) {
	ctx := context.Background()
	r, cs, _, _ := newRotator(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "agentguard-webhook-tls", Namespace: ns}})
	if err := r.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"agentguard", "missing"} {
		if _, err := cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("validating %s: err = %v, want NotFound", name, err)
		}
		if _, err := cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("mutating %s: err = %v, want NotFound", name, err)
		}
	}
	// Nor the Secret, once the uninstall deleted it.
	if err := cs.CoreV1().Secrets(ns).Delete(ctx, "agentguard-webhook-tls", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := r.Sync(ctx); !apierrors.IsNotFound(err) {
		t.Errorf("Sync without the Secret: err = %v, want NotFound", err)
	}
	if _, err := cs.CoreV1().Secrets(ns).Get(ctx, "agentguard-webhook-tls", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("secret recreated: %v", err)
	}
}

// Two replicas racing on the Secret agree on one certificate.
func TestReplicasAgree(t *testing.T) {
	ctx := context.Background()
	v, m := webhookConfigs()
	a, cs, c, dirA := newRotator(t, v, m, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "agentguard-webhook-tls", Namespace: ns}})
	dirB := t.TempDir()
	b, err := New(Options{Client: cs, Namespace: ns, SecretName: "agentguard-webhook-tls", Service: "agentguard-webhook",
		WebhookConfigs: []string{"agentguard"}, CertDir: dirB, Now: c.now,
		CAValidity: a.opts.CAValidity, CertValidity: a.opts.CertValidity})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	ca, _ := os.ReadFile(filepath.Join(dirA, "tls.crt"))
	cb, _ := os.ReadFile(filepath.Join(dirB, "tls.crt"))
	if string(ca) != string(cb) {
		t.Error("replicas serve different certificates")
	}
}

func TestNewValidates(t *testing.T) {
	cs := fake.NewClientset()
	for name, o := range map[string]Options{
		"no client":    {Namespace: ns, SecretName: "s", Service: "svc", CertDir: "d"},
		"no namespace": {Client: cs, SecretName: "s", Service: "svc", CertDir: "d"},
		"no secret":    {Client: cs, Namespace: ns, Service: "svc", CertDir: "d"},
		"no service":   {Client: cs, Namespace: ns, SecretName: "s", CertDir: "d"},
		"no cert dir":  {Client: cs, Namespace: ns, SecretName: "s", Service: "svc"},
		"cert > CA":    {Client: cs, Namespace: ns, SecretName: "s", Service: "svc", CertDir: "d", CAValidity: time.Hour, CertValidity: 2 * time.Hour},
	} {
		if _, err := New(o); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
}
