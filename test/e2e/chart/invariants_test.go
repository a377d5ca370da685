package chart

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
)

// rendered is one values file's output, decoded.
type rendered struct {
	all         []*unstructured.Unstructured
	deployments []appsv1.Deployment
	pdbs        []policyv1.PodDisruptionBudget
	validating  []admissionregistrationv1.ValidatingWebhookConfiguration
	mutating    []admissionregistrationv1.MutatingWebhookConfiguration
	rules       map[string][]rbacv1.PolicyRule // kind/name -> rules
	kinds       map[string]int
}

func decode(t *testing.T, objs []*unstructured.Unstructured) *rendered {
	t.Helper()
	r := &rendered{all: objs, rules: map[string][]rbacv1.PolicyRule{}, kinds: map[string]int{}}
	conv := runtime.DefaultUnstructuredConverter
	for _, o := range objs {
		r.kinds[o.GetKind()]++
		var err error
		switch o.GetKind() {
		case "Deployment":
			var d appsv1.Deployment
			err = conv.FromUnstructuredWithValidation(o.Object, &d, true)
			r.deployments = append(r.deployments, d)
		case "PodDisruptionBudget":
			var p policyv1.PodDisruptionBudget
			err = conv.FromUnstructuredWithValidation(o.Object, &p, true)
			r.pdbs = append(r.pdbs, p)
		case "ValidatingWebhookConfiguration":
			var v admissionregistrationv1.ValidatingWebhookConfiguration
			err = conv.FromUnstructuredWithValidation(o.Object, &v, true)
			r.validating = append(r.validating, v)
		case "MutatingWebhookConfiguration":
			var m admissionregistrationv1.MutatingWebhookConfiguration
			err = conv.FromUnstructuredWithValidation(o.Object, &m, true)
			r.mutating = append(r.mutating, m)
		case "Role", "ClusterRole":
			var role rbacv1.ClusterRole
			err = conv.FromUnstructuredWithValidation(o.Object, &role, true)
			r.rules[o.GetKind()+"/"+o.GetName()] = role.Rules
		}
		if err != nil {
			t.Fatalf("%s %s: %v", o.GetKind(), o.GetName(), err)
		}
	}
	return r
}

// TestInvariants checks what the chart promises, on every values file.
func TestInvariants(t *testing.T) {
	for name, file := range valuesFiles(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := decode(t, objects(t, render(t, file)))
			ha := name != "ha-off"
			checkDeployments(t, r, ha)
			checkWebhooks(t, r)
			checkRBAC(t, r)
			if r.kinds["NetworkPolicy"] != 2 && name != "ha-off" {
				t.Errorf("NetworkPolicies: %d, want one per Deployment", r.kinds["NetworkPolicy"])
			}
			if name == "monitoring" {
				checkClusterScope(t, r)
			}
			if name == "monitoring" && (r.kinds["ServiceMonitor"] != 2 || r.kinds["PrometheusRule"] != 1) {
				t.Errorf("monitoring objects: %v", r.kinds)
			}
			if name == "cert-manager" && r.kinds["Certificate"] != 2 {
				t.Errorf("Certificates: %d, want 2 (webhook, PDP)", r.kinds["Certificate"])
			}
		})
	}
}

func checkDeployments(t *testing.T, r *rendered, ha bool) {
	t.Helper()
	if len(r.deployments) != 2 {
		t.Fatalf("Deployments: %d, want 2 (webhook, PDP)", len(r.deployments))
	}
	for _, d := range r.deployments {
		id := "Deployment " + d.Name
		pod := d.Spec.Template
		if d.Spec.Replicas != nil && *d.Spec.Replicas < 2 && ha {
			t.Errorf("%s: %d replicas, want at least 2", id, *d.Spec.Replicas)
		}
		if ha {
			if len(pod.Spec.TopologySpreadConstraints) == 0 {
				t.Errorf("%s: no topology spread constraints", id)
			}
			covered := 0
			for _, p := range r.pdbs {
				sel, err := metav1.LabelSelectorAsSelector(p.Spec.Selector)
				if err != nil {
					t.Fatal(err)
				}
				if sel.Matches(labels.Set(pod.Labels)) {
					covered++
					if p.Spec.MaxUnavailable == nil || p.Spec.MaxUnavailable.IntValue() != 1 {
						t.Errorf("%s: PDB %s does not allow exactly one disruption", id, p.Name)
					}
				}
			}
			if covered != 1 {
				t.Errorf("%s: covered by %d PDBs, want 1", id, covered)
			}
		}
		ps := pod.Spec.SecurityContext
		if ps == nil || ps.RunAsNonRoot == nil || !*ps.RunAsNonRoot || ps.SeccompProfile == nil || ps.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
			t.Errorf("%s: pod securityContext is not restricted: %+v", id, ps)
		}
		if pod.Spec.AutomountServiceAccountToken == nil || *pod.Spec.AutomountServiceAccountToken {
			t.Errorf("%s: the ServiceAccount token is automounted (want a projected, expiring one)", id)
		}
		for _, c := range pod.Spec.Containers {
			sc := c.SecurityContext
			if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
				sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
				sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
				t.Errorf("%s/%s: container securityContext is not restricted: %+v", id, c.Name, sc)
			}
			if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
				t.Errorf("%s/%s: resources lack cpu/memory requests or a memory limit", id, c.Name)
			}
			if c.Resources.Limits.Memory().Cmp(*c.Resources.Requests.Memory()) <= 0 {
				t.Errorf("%s/%s: no memory headroom above the request", id, c.Name)
			}
			if c.ReadinessProbe == nil || c.LivenessProbe == nil {
				t.Errorf("%s/%s: missing probes", id, c.Name)
			}
		}
		for _, v := range pod.Spec.Volumes {
			if v.EmptyDir != nil && v.EmptyDir.SizeLimit == nil {
				t.Errorf("%s: emptyDir %s has no sizeLimit", id, v.Name)
			}
		}
	}
}

func checkWebhooks(t *testing.T, r *rendered) {
	t.Helper()
	if len(r.validating) != 1 || len(r.mutating) != 1 {
		t.Fatalf("webhook configurations: %d validating, %d mutating; want 1 each", len(r.validating), len(r.mutating))
	}
	type hook struct {
		name     string
		failure  *admissionregistrationv1.FailurePolicyType
		side     *admissionregistrationv1.SideEffectClass
		timeout  *int32
		nsSel    *metav1.LabelSelector
		objSel   *metav1.LabelSelector
		rules    []admissionregistrationv1.RuleWithOperations
		mutating bool
		reinvoke *admissionregistrationv1.ReinvocationPolicyType
	}
	var hooks []hook
	for _, w := range r.validating[0].Webhooks {
		hooks = append(hooks, hook{w.Name, w.FailurePolicy, w.SideEffects, w.TimeoutSeconds, w.NamespaceSelector, w.ObjectSelector, w.Rules, false, nil})
	}
	for _, w := range r.mutating[0].Webhooks {
		hooks = append(hooks, hook{w.Name, w.FailurePolicy, w.SideEffects, w.TimeoutSeconds, w.NamespaceSelector, w.ObjectSelector, w.Rules, true, w.ReinvocationPolicy})
	}
	covered := map[string]bool{}
	for _, h := range hooks {
		if h.failure == nil || *h.failure != admissionregistrationv1.Fail {
			t.Errorf("%s: failurePolicy is not Fail", h.name)
		}
		if h.side == nil || *h.side != admissionregistrationv1.SideEffectClassNone {
			t.Errorf("%s: sideEffects is not None", h.name)
		}
		if h.timeout == nil || *h.timeout > 5 {
			t.Errorf("%s: timeoutSeconds above 5", h.name)
		}
		if h.objSel != nil && (len(h.objSel.MatchLabels) > 0 || len(h.objSel.MatchExpressions) > 0) {
			t.Errorf("%s: an objectSelector lets objects opt out", h.name)
		}
		if h.mutating && (h.reinvoke == nil || *h.reinvoke != admissionregistrationv1.IfNeededReinvocationPolicy) {
			t.Errorf("%s: reinvocationPolicy is not IfNeeded", h.name)
		}
		sel, err := metav1.LabelSelectorAsSelector(h.nsSel)
		if err != nil {
			t.Fatalf("%s: %v", h.name, err)
		}
		for _, ns := range []string{"kube-system", namespace} {
			for _, tenant := range []string{"", "team-a"} {
				l := labels.Set{"kubernetes.io/metadata.name": ns}
				if tenant != "" {
					l["agentguard.io/tenant"] = tenant
				}
				if sel.Matches(l) {
					t.Errorf("%s: namespaceSelector selects %s (labels %v)", h.name, ns, l)
				}
			}
		}
		if !h.mutating {
			for _, rule := range h.rules {
				for _, res := range rule.Resources {
					for _, g := range rule.APIGroups {
						covered[fmt.Sprintf("%s/%s", g, res)] = true
					}
				}
			}
		}
	}
	// Tenant namespaces are always selected by the validating webhook for
	// pods.
	tenantNS := labels.Set{"kubernetes.io/metadata.name": "team-a", "agentguard.io/tenant": "team-a"}
	sel, _ := metav1.LabelSelectorAsSelector(r.validating[0].Webhooks[0].NamespaceSelector)
	if !sel.Matches(tenantNS) {
		t.Errorf("%s does not select tenant namespaces", r.validating[0].Webhooks[0].Name)
	}
	for _, want := range []string{"/pods", "/pods/ephemeralcontainers", "apps/deployments", "apps/statefulsets", "apps/daemonsets",
		"apps/replicasets", "batch/jobs", "batch/cronjobs", "/namespaces", "/secrets"} {
		if !covered[want] {
			t.Errorf("validating webhooks do not cover %s", want)
		}
	}
}

// checkRBAC: no wildcards, nothing beyond what the servers call, and Secret
// and webhook-configuration access limited by name.
func checkRBAC(t *testing.T, r *rendered) {
	t.Helper()
	allowed := map[string][]string{ // group/resource -> verbs any role may hold
		"/namespaces":                        {"get", "list", "watch"},
		"/serviceaccounts":                   {"get", "list", "watch"},
		"/secrets":                           {"get", "update"},
		"authentication.k8s.io/tokenreviews": {"create"},
		"agentguard.io/agentgrants":          {"get", "list", "watch", "create", "update"},
		"admissionregistration.k8s.io/validatingwebhookconfigurations": {"get", "update"},
		"admissionregistration.k8s.io/mutatingwebhookconfigurations":   {"get", "update"},
	}
	byName := map[string]bool{"/secrets": true, "admissionregistration.k8s.io/validatingwebhookconfigurations": true,
		"admissionregistration.k8s.io/mutatingwebhookconfigurations": true}
	for role, rules := range r.rules {
		for _, rule := range rules {
			for _, s := range slices.Concat(rule.APIGroups, rule.Resources, rule.Verbs, rule.ResourceNames) {
				if strings.Contains(s, "*") {
					t.Errorf("%s: wildcard %q", role, s)
				}
			}
			for _, g := range rule.APIGroups {
				for _, res := range rule.Resources {
					key := g + "/" + res
					verbs, ok := allowed[key]
					if !ok {
						t.Errorf("%s: unexpected access to %s", role, key)
						continue
					}
					for _, v := range rule.Verbs {
						if !slices.Contains(verbs, v) {
							t.Errorf("%s: unexpected verb %s on %s", role, v, key)
						}
					}
					if byName[key] && len(rule.ResourceNames) == 0 {
						t.Errorf("%s: %s not limited by resourceNames", role, key)
					}
					if key == "/secrets" && !strings.HasPrefix(role, "Role/") {
						t.Errorf("%s: cluster-wide access to Secrets", role)
					}
				}
			}
		}
	}
}

// checkClusterScope: with webhook.scope cluster there is one webhook of each
// kind, selecting every namespace but the exempt ones, and the validating one
// covers everything the conformance suite requires of it (AG-CC-008).
func checkClusterScope(t *testing.T, r *rendered) {
	t.Helper()
	v, m := r.validating[0].Webhooks, r.mutating[0].Webhooks
	if len(v) != 1 || len(m) != 1 {
		t.Fatalf("scope cluster: %d validating and %d mutating webhooks, want one each", len(v), len(m))
	}
	for _, sel := range []*metav1.LabelSelector{v[0].NamespaceSelector, m[0].NamespaceSelector} {
		s, err := metav1.LabelSelectorAsSelector(sel)
		if err != nil {
			t.Fatal(err)
		}
		if !s.Matches(labels.Set{"kubernetes.io/metadata.name": "plain"}) {
			t.Errorf("scope cluster: namespaceSelector %v does not select an ordinary namespace", sel)
		}
	}
	if len(v[0].MatchConditions) > 0 {
		t.Errorf("scope cluster: the validating webhook filters requests: %v", v[0].MatchConditions)
	}
}
