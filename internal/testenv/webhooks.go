package testenv

import (
	"context"
	"net"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// FreePort returns a TCP port free on 127.0.0.1 right now.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port
}

// ExemptSelector keeps the webhooks away from the namespaces that must keep
// working when agentguard is down.
var ExemptSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
	Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpNotIn,
	Values: []string{"kube-system", "agentguard-system"},
}}}

// WebhookRules are the pod and pod-controller rules agentguard registers.
func WebhookRules(ops ...admissionregistrationv1.OperationType) []admissionregistrationv1.RuleWithOperations {
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

// RegisterWebhooks creates the Mutating- and ValidatingWebhookConfiguration
// "agentguard" pointing at a webhook served at url with CA caPEM, as the
// Helm chart does for the in-cluster Service: sideEffects None,
// failurePolicy Fail, 5 s timeout, exempt namespaces excluded.
func RegisterWebhooks(ctx context.Context, t testing.TB, client kubernetes.Interface, url string, caPEM []byte) {
	t.Helper()
	none := admissionregistrationv1.SideEffectClassNone
	fail := admissionregistrationv1.Fail
	timeout := int32(5)
	ifNeeded := admissionregistrationv1.IfNeededReinvocationPolicy
	equivalent := admissionregistrationv1.Equivalent
	cc := func(path string) admissionregistrationv1.WebhookClientConfig {
		u := url + path
		return admissionregistrationv1.WebhookClientConfig{URL: &u, CABundle: caPEM}
	}
	mwc := &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "agentguard"},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name: "mutate.agentguard.io", ClientConfig: cc("/mutate"),
			Rules:       WebhookRules(admissionregistrationv1.Create, admissionregistrationv1.Update),
			SideEffects: &none, FailurePolicy: &fail, TimeoutSeconds: &timeout, MatchPolicy: &equivalent,
			NamespaceSelector: ExemptSelector, ReinvocationPolicy: &ifNeeded, AdmissionReviewVersions: []string{"v1"},
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
			Rules:       append(WebhookRules(admissionregistrationv1.Create, admissionregistrationv1.Update), nsRule),
			SideEffects: &none, FailurePolicy: &fail, TimeoutSeconds: &timeout, MatchPolicy: &equivalent,
			NamespaceSelector: ExemptSelector, AdmissionReviewVersions: []string{"v1"},
		}},
	}
	if _, err := client.AdmissionregistrationV1().MutatingWebhookConfigurations().Create(ctx, mwc, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create MutatingWebhookConfiguration: %v", err)
	}
	if _, err := client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(ctx, vwc, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create ValidatingWebhookConfiguration: %v", err)
	}
}
