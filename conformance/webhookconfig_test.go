package conformance

import (
	"context"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/agentguard/agentguard/conformance/catalog"
)

// chartLike builds the webhook layout of charts/agentguard with scope
// "agents": tenant namespaces unconditionally, agent-labelled pods
// elsewhere through matchConditions, namespaces on label changes.
func chartLike(mod func(v *admissionregistrationv1.ValidatingWebhookConfiguration, m *admissionregistrationv1.MutatingWebhookConfiguration)) []runtime.Object {
	fail, none, timeout := admissionregistrationv1.Fail, admissionregistrationv1.SideEffectClassNone, int32(5)
	cu := []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update}
	rule := func(group string, res ...string) admissionregistrationv1.RuleWithOperations {
		return admissionregistrationv1.RuleWithOperations{Operations: cu, Rule: admissionregistrationv1.Rule{APIGroups: []string{group}, APIVersions: []string{"v1"}, Resources: res}}
	}
	workloads := []admissionregistrationv1.RuleWithOperations{rule("", "pods", "pods/ephemeralcontainers"),
		rule("apps", "deployments", "statefulsets", "daemonsets", "replicasets"), rule("batch", "jobs", "cronjobs")}
	notExempt := metav1.LabelSelectorRequirement{Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"kube-system", "agentguard-system"}}
	tenant := metav1.LabelSelectorRequirement{Key: "agentguard.io/tenant", Operator: metav1.LabelSelectorOpExists}
	noTenant := metav1.LabelSelectorRequirement{Key: "agentguard.io/tenant", Operator: metav1.LabelSelectorOpDoesNotExist}
	sel := func(r ...metav1.LabelSelectorRequirement) *metav1.LabelSelector {
		return &metav1.LabelSelector{MatchExpressions: r}
	}
	cond := []admissionregistrationv1.MatchCondition{{Name: "agent-label", Expression: "has(object.metadata.labels)"}}
	v := &admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "agentguard"}, Webhooks: []admissionregistrationv1.ValidatingWebhook{
		{Name: "validate.agentguard.io", FailurePolicy: &fail, SideEffects: &none, TimeoutSeconds: &timeout, NamespaceSelector: sel(notExempt, tenant),
			Rules: append(append([]admissionregistrationv1.RuleWithOperations{}, workloads...), rule("", "secrets"))},
		{Name: "validate-labelled.agentguard.io", FailurePolicy: &fail, SideEffects: &none, TimeoutSeconds: &timeout, NamespaceSelector: sel(notExempt, noTenant),
			Rules: workloads, MatchConditions: cond},
		{Name: "validate-namespaces.agentguard.io", FailurePolicy: &fail, SideEffects: &none, TimeoutSeconds: &timeout, NamespaceSelector: sel(notExempt),
			Rules: []admissionregistrationv1.RuleWithOperations{rule("", "namespaces")}, MatchConditions: cond},
	}}
	m := &admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "agentguard"}, Webhooks: []admissionregistrationv1.MutatingWebhook{
		{Name: "mutate.agentguard.io", FailurePolicy: &fail, SideEffects: &none, TimeoutSeconds: &timeout, NamespaceSelector: sel(notExempt, tenant), Rules: workloads},
		{Name: "mutate-labelled.agentguard.io", FailurePolicy: &fail, SideEffects: &none, TimeoutSeconds: &timeout, NamespaceSelector: sel(notExempt, noTenant), Rules: workloads, MatchConditions: cond},
	}}
	if mod != nil {
		mod(v, m)
	}
	ns := func(name string, labels map[string]string) *corev1.Namespace {
		if labels == nil {
			labels = map[string]string{}
		}
		labels["kubernetes.io/metadata.name"] = name
		return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	}
	return []runtime.Object{v, m, ns("kube-system", nil), ns("agentguard-system", nil), ns("default", nil),
		ns("team-a", map[string]string{"agentguard.io/tenant": "team-a"})}
}

func TestWebhookConfigurationCheck(t *testing.T) {
	ctl := &catalog.Control{ID: "AG-CC-008", Level: catalog.LevelCore}
	tests := []struct {
		name string
		mod  func(*admissionregistrationv1.ValidatingWebhookConfiguration, *admissionregistrationv1.MutatingWebhookConfiguration)
		want Status
		find string
	}{
		{"the chart's layout passes", nil, StatusPass, ""},
		{"fail open", func(v *admissionregistrationv1.ValidatingWebhookConfiguration, _ *admissionregistrationv1.MutatingWebhookConfiguration) {
			ignore := admissionregistrationv1.Ignore
			v.Webhooks[0].FailurePolicy = &ignore
		}, StatusFail, "failurePolicy is not Fail"},
		{"slow", func(v *admissionregistrationv1.ValidatingWebhookConfiguration, _ *admissionregistrationv1.MutatingWebhookConfiguration) {
			v.Webhooks[1].TimeoutSeconds = ptrTo(int32(30))
		}, StatusFail, "timeoutSeconds above 10"},
		{"tenants can opt out by label", func(v *admissionregistrationv1.ValidatingWebhookConfiguration, _ *admissionregistrationv1.MutatingWebhookConfiguration) {
			v.Webhooks[0].ObjectSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "skip", Operator: metav1.LabelSelectorOpDoesNotExist}}}
		}, StatusFail, "can opt out"},
		{"no mutation in tenant namespaces", func(_ *admissionregistrationv1.ValidatingWebhookConfiguration, m *admissionregistrationv1.MutatingWebhookConfiguration) {
			m.Webhooks = m.Webhooks[1:]
		}, StatusFail, "selected by no mutating webhook"},
		{"other namespaces uncovered", func(v *admissionregistrationv1.ValidatingWebhookConfiguration, _ *admissionregistrationv1.MutatingWebhookConfiguration) {
			v.Webhooks = append(v.Webhooks[:1], v.Webhooks[2])
		}, StatusFail, "bypass the guardrails): default"},
		{"namespaces not covered", func(v *admissionregistrationv1.ValidatingWebhookConfiguration, _ *admissionregistrationv1.MutatingWebhookConfiguration) {
			v.Webhooks = v.Webhooks[:2]
		}, StatusFail, "do not cover CREATE namespaces"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &session{profile: DefaultProfile(), kube: fake.NewClientset(chartLike(tt.mod)...)}
			r := &record{}
			checkWebhookConfiguration(context.Background(), s, r)
			st, sum := outcome(ctl, r)
			if st != tt.want || !strings.Contains(sum, tt.find) {
				t.Errorf("got %s %q, want %s with %q; evidence: %+v", st, sum, tt.want, tt.find, r.evidence)
			}
		})
	}
}
