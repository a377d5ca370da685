package conformance

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// agentPods lists running agent pods outside the suite's namespaces.
func (s *session) agentPods(ctx context.Context) ([]corev1.Pod, error) {
	list, err := s.kube.CoreV1().Pods("").List(ctx, metav1.ListOptions{LabelSelector: s.profile.AgentLabel})
	if err != nil {
		return nil, err
	}
	var out []corev1.Pod
	for _, p := range list.Items {
		if p.Labels[RunLabel] == "" {
			out = append(out, p)
		}
	}
	return out, nil
}

// agentNamespaces lists the agent-tenant namespaces, the suite's own
// excluded.
func (s *session) agentNamespaces(ctx context.Context) ([]corev1.Namespace, error) {
	list, err := s.kube.CoreV1().Namespaces().List(ctx, metav1.ListOptions{LabelSelector: s.profile.TenantLabel})
	if err != nil {
		return nil, err
	}
	var out []corev1.Namespace
	for _, n := range list.Items {
		if n.Labels[RunLabel] == "" {
			out = append(out, n)
		}
	}
	return out, nil
}

func registryAllowed(image string, allowed []string) bool {
	for _, a := range allowed {
		a = strings.TrimSuffix(a, "/")
		if image == a || strings.HasPrefix(image, a+"/") {
			return true
		}
	}
	return false
}

// agentguardWebhooks returns the validating and mutating webhooks whose
// configuration or webhook name contains the profile's webhook name.
func (s *session) agentguardWebhooks(ctx context.Context) ([]admissionregistrationv1.ValidatingWebhook, []admissionregistrationv1.MutatingWebhook, error) {
	name := s.profile.Admission.WebhookName
	vl, err := s.kube.AdmissionregistrationV1().ValidatingWebhookConfigurations().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, nil, fmt.Errorf("list ValidatingWebhookConfigurations: %w", err)
	}
	ml, err := s.kube.AdmissionregistrationV1().MutatingWebhookConfigurations().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, nil, fmt.Errorf("list MutatingWebhookConfigurations: %w", err)
	}
	var vs []admissionregistrationv1.ValidatingWebhook
	for _, c := range vl.Items {
		for _, w := range c.Webhooks {
			if strings.Contains(c.Name, name) || strings.Contains(w.Name, name) {
				vs = append(vs, w)
			}
		}
	}
	var ms []admissionregistrationv1.MutatingWebhook
	for _, c := range ml.Items {
		for _, w := range c.Webhooks {
			if strings.Contains(c.Name, name) || strings.Contains(w.Name, name) {
				ms = append(ms, w)
			}
		}
	}
	return vs, ms, nil
}

func selects(sel *metav1.LabelSelector, l map[string]string) (bool, error) {
	if sel == nil {
		return true, nil
	}
	ls, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return false, err
	}
	return ls.Matches(labels.Set(l)), nil
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func checkGuardrailCoverage(ctx context.Context, s *session, r *record) {
	if !s.needKube(r) {
		return
	}
	ann := s.profile.AdmittedAnnotation
	s.runProbes(ctx, r, []probe{{step: "agent pod comes back from the mutating webhook with the admission stamp " + ann, ns: nsTenant,
		pod: s.compliantPod("gov001"), verify: func(_ *corev1.PodSpec, meta *metav1.ObjectMeta) []string {
			if meta.Annotations[ann] == "" {
				return []string{"no " + ann + " annotation"}
			}
			return nil
		}}})
	if r.forced != "" {
		return
	}
	vs, _, err := s.agentguardWebhooks(ctx)
	if err != nil {
		r.errorf("%v", err)
		return
	}
	pods, err := s.agentPods(ctx)
	if err != nil {
		r.errorf("list agent pods: %v", err)
		return
	}
	nsCache := map[string]*corev1.Namespace{}
	for _, p := range pods {
		where := p.Namespace + "/" + p.Name
		ns, ok := nsCache[p.Namespace]
		if !ok {
			ns, err = s.kube.CoreV1().Namespaces().Get(ctx, p.Namespace, metav1.GetOptions{})
			if err != nil {
				r.errorf("get namespace %s: %v", p.Namespace, err)
				return
			}
			nsCache[p.Namespace] = ns
		}
		if ns.Labels[s.profile.TenantLabel] == "" {
			r.finding("agent pod "+where+" runs in a namespace that is not an agent-tenant namespace", "namespace labels: "+toJSON(ns.Labels), "")
		}
		selected := len(vs) > 0
		for _, w := range vs {
			if ok, err := selects(w.NamespaceSelector, ns.Labels); err != nil || !ok {
				selected = false
			}
		}
		if !selected {
			r.finding("agent pod "+where+" runs in a namespace the agentguard validating webhook does not select", "namespace labels: "+toJSON(ns.Labels), "")
		}
		if p.Annotations[ann] == "" {
			r.finding("agent pod "+where+" has no admission stamp (admitted while the webhook was bypassed?)", "annotations: "+toJSON(p.Annotations), "")
		} else {
			r.ok("agent pod "+where+" carries the admission stamp", "", ann+": "+p.Annotations[ann])
		}
	}
	if len(pods) == 0 {
		r.info("no running agent pods (label "+s.profile.AgentLabel+") to scan", "", "")
	}
	r.skip("mapping of running agent IDs to the registry and to their PDP wiring")
}

// requiredCovered reports which required resources rules miss for
// CREATE and UPDATE.
func requiredCovered(required []string, rules []admissionregistrationv1.RuleWithOperations) []string {
	var missing []string
	for _, req := range required {
		group, res := "", req
		if g, r, ok := strings.Cut(req, "/"); ok && g != "pods" {
			group, res = g, r
		}
		for _, op := range []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update} {
			covered := false
			for _, rule := range rules {
				opOK := slices.Contains(rule.Operations, op) || slices.Contains(rule.Operations, admissionregistrationv1.OperationAll)
				groupOK := slices.Contains(rule.APIGroups, group) || slices.Contains(rule.APIGroups, "*")
				if !opOK || !groupOK {
					continue
				}
				for _, rr := range rule.Resources {
					main, sub, _ := strings.Cut(res, "/")
					rmain, rsub, _ := strings.Cut(rr, "/")
					if rr == res || rr == "*" && sub == "" || rr == "*/*" || (rsub == "*" && rmain == main && sub != "") || (rmain == "*" && rsub == sub && sub != "") {
						covered = true
					}
				}
			}
			if !covered {
				missing = append(missing, fmt.Sprintf("%s %s", op, req))
			}
		}
	}
	return missing
}

// hookView is a validating or mutating webhook, reduced to what the
// configuration check reads.
type hookView struct {
	kind, name    string
	failure       *admissionregistrationv1.FailurePolicyType
	side          *admissionregistrationv1.SideEffectClass
	timeout       *int32
	nsSel, objSel *metav1.LabelSelector
	conditions    []admissionregistrationv1.MatchCondition
	rules         []admissionregistrationv1.RuleWithOperations
}

// unconditional: the webhook applies to every object its rules and
// namespaceSelector match (no objectSelector, no matchConditions).
func (h hookView) unconditional() bool {
	return (h.objSel == nil || (len(h.objSel.MatchLabels) == 0 && len(h.objSel.MatchExpressions) == 0)) && len(h.conditions) == 0
}

func (h hookView) covers(resource string) bool {
	return len(requiredCovered([]string{resource}, h.rules)) == 0
}

func (h hookView) spec() string {
	return toJSON(map[string]any{"failurePolicy": h.failure, "sideEffects": h.side, "timeoutSeconds": h.timeout,
		"namespaceSelector": h.nsSel, "objectSelector": h.objSel, "matchConditions": h.conditions, "rules": h.rules})
}

// checkWebhookConfiguration reads agentguard's webhook configurations
// (AG-CC-008). Each webhook must fail closed, be safe for dry runs and
// answer quickly. Coverage is judged on all of them together, so a
// configuration may split the work (for example one webhook for tenant
// namespaces and one, conditioned on the agent label, for the rest):
// every agent-tenant namespace must be covered for pods by a validating
// and a mutating webhook that no object can opt out of, every other
// namespace that is not exempt by at least a conditioned one, and the
// validating rules together must cover the required resources.
func checkWebhookConfiguration(ctx context.Context, s *session, r *record) {
	if !s.needKube(r) {
		return
	}
	a := s.profile.Admission
	vs, ms, err := s.agentguardWebhooks(ctx)
	if err != nil {
		r.errorf("%v", err)
		return
	}
	if len(vs) == 0 {
		r.finding("no validating webhook named like "+a.WebhookName+" is registered", "GET validatingwebhookconfigurations", "none match")
	}
	if len(ms) == 0 {
		r.finding("no mutating webhook named like "+a.WebhookName+" is registered", "GET mutatingwebhookconfigurations", "none match")
	}
	if len(vs) == 0 && len(ms) == 0 {
		return
	}
	nss, err := s.kube.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	if err != nil {
		r.errorf("list namespaces: %v", err)
		return
	}
	var validating, mutating []hookView
	for _, w := range vs {
		validating = append(validating, hookView{"validating", w.Name, w.FailurePolicy, w.SideEffects, w.TimeoutSeconds, w.NamespaceSelector, w.ObjectSelector, w.MatchConditions, w.Rules})
	}
	for _, w := range ms {
		mutating = append(mutating, hookView{"mutating", w.Name, w.FailurePolicy, w.SideEffects, w.TimeoutSeconds, w.NamespaceSelector, w.ObjectSelector, w.MatchConditions, w.Rules})
	}
	for _, h := range append(append([]hookView{}, validating...), mutating...) {
		id := h.kind + " webhook " + h.name
		if h.failure != nil && *h.failure == admissionregistrationv1.Fail {
			r.ok(id+": failurePolicy Fail", h.spec(), "")
		} else {
			r.finding(id+": failurePolicy is not Fail (fails open)", h.spec(), "")
		}
		if h.side != nil && (*h.side == admissionregistrationv1.SideEffectClassNone || *h.side == admissionregistrationv1.SideEffectClassNoneOnDryRun) {
			r.ok(id+": sideEffects "+string(*h.side), "", "")
		} else {
			r.finding(id+": sideEffects is not None or NoneOnDryRun (dry runs skip it)", h.spec(), "")
		}
		if h.timeout != nil && *h.timeout <= a.MaxWebhookTimeoutSeconds {
			r.ok(fmt.Sprintf("%s: timeoutSeconds %d ≤ %d", id, *h.timeout, a.MaxWebhookTimeoutSeconds), "", "")
		} else {
			r.finding(fmt.Sprintf("%s: timeoutSeconds above %d", id, a.MaxWebhookTimeoutSeconds), h.spec(), "")
		}
	}
	// selecting returns the webhooks that cover pods in namespace n.
	selecting := func(hooks []hookView, n corev1.Namespace) (unconditional, conditional []string) {
		for _, h := range hooks {
			if !h.covers("pods") {
				continue
			}
			ok, err := selects(h.nsSel, n.Labels)
			if err != nil || !ok {
				continue
			}
			if h.unconditional() {
				unconditional = append(unconditional, h.name)
			} else {
				conditional = append(conditional, h.name)
			}
		}
		return unconditional, conditional
	}
	var uncovered []string
	for _, n := range nss.Items {
		labels := "namespace labels: " + toJSON(n.Labels)
		if n.Labels[s.profile.TenantLabel] != "" {
			for _, set := range []struct {
				kind  string
				hooks []hookView
			}{{"validating", validating}, {"mutating", mutating}} {
				u, c := selecting(set.hooks, n)
				switch {
				case len(u) > 0:
					r.ok(fmt.Sprintf("agent-tenant namespace %s: pods always go through %s webhook %s", n.Name, set.kind, strings.Join(u, ", ")), labels, "")
				case len(c) > 0:
					r.finding(fmt.Sprintf("agent-tenant namespace %s: the %s webhooks that select it (%s) have an objectSelector or matchConditions, so a pod can opt out", n.Name, set.kind, strings.Join(c, ", ")), labels, "")
				default:
					r.finding(fmt.Sprintf("agent-tenant namespace %s is selected by no %s webhook for pods", n.Name, set.kind), labels, "")
				}
			}
			continue
		}
		if slices.Contains(a.ExemptNamespaces, n.Name) {
			continue
		}
		if u, c := selecting(validating, n); len(u) == 0 && len(c) == 0 {
			uncovered = append(uncovered, n.Name)
		}
	}
	if len(uncovered) > 0 {
		r.finding("namespaces that are neither exempt nor covered by any validating webhook for pods (agent pods there bypass the guardrails): "+strings.Join(uncovered, ", "), "exempt: "+strings.Join(a.ExemptNamespaces, ", "), "")
	} else {
		r.ok("every namespace that is not exempt is covered by a validating webhook for pods", "exempt: "+strings.Join(a.ExemptNamespaces, ", "), "")
	}
	var rules []admissionregistrationv1.RuleWithOperations
	for _, h := range validating {
		rules = append(rules, h.rules...)
	}
	if missing := requiredCovered(a.RequiredWebhookResources, rules); len(missing) > 0 {
		r.finding("the validating webhooks' rules do not cover "+strings.Join(missing, ", "), toJSON(rules), "")
	} else {
		r.ok("the validating webhooks' rules cover "+strings.Join(a.RequiredWebhookResources, ", "), toJSON(rules), "")
	}
	r.skip("staging only: block the webhook Service and confirm a pod create is rejected",
		"coverage of pods/exec, Services, Secrets and RBAC bindings unless listed in admission.requiredWebhookResources",
		"what matchConditions of conditioned webhooks let through (CEL is not evaluated)")
}

// agentguardDeployments lists agentguard's own Deployments.
func (s *session) agentguardDeployments(ctx context.Context, r *record) ([]deploymentView, bool) {
	list, err := s.kube.AppsV1().Deployments(s.profile.SystemNamespace).List(ctx, metav1.ListOptions{LabelSelector: s.profile.Inventory.AgentguardSelector})
	if err != nil {
		r.errorf("list Deployments in %s: %v", s.profile.SystemNamespace, err)
		return nil, false
	}
	if len(list.Items) == 0 {
		r.manual("no agentguard Deployments in namespace %s with labels %s (agentguard may run outside this cluster; set inventory.agentguardSelector)",
			s.profile.SystemNamespace, s.profile.Inventory.AgentguardSelector)
		return nil, false
	}
	// A Deployment scaled by an HPA usually leaves spec.replicas unset;
	// its floor is then the HPA's minReplicas.
	floors := map[string]int32{}
	if hpas, err := s.kube.AutoscalingV2().HorizontalPodAutoscalers(s.profile.SystemNamespace).List(ctx, metav1.ListOptions{}); err == nil {
		for _, h := range hpas.Items {
			if h.Spec.ScaleTargetRef.Kind == "Deployment" && h.Spec.MinReplicas != nil {
				floors[h.Spec.ScaleTargetRef.Name] = *h.Spec.MinReplicas
			}
		}
	}
	var out []deploymentView
	for _, d := range list.Items {
		replicas, fromHPA := int32(1), false
		if floor, ok := floors[d.Name]; ok && d.Spec.Replicas == nil {
			replicas, fromHPA = floor, true
		}
		if d.Spec.Replicas != nil {
			replicas = *d.Spec.Replicas
		}
		out = append(out, deploymentView{ns: d.Namespace, name: d.Name, replicas: replicas, fromHPA: fromHPA, template: d.Spec.Template, selector: d.Spec.Selector})
	}
	return out, true
}

type deploymentView struct {
	ns, name string
	replicas int32
	// fromHPA: replicas is the floor of the HPA that scales it.
	fromHPA  bool
	template corev1.PodTemplateSpec
	selector *metav1.LabelSelector
}

func checkDisruptionBudgets(ctx context.Context, s *session, r *record) {
	if !s.needKube(r) {
		return
	}
	deps, ok := s.agentguardDeployments(ctx, r)
	if !ok {
		return
	}
	pdbs, err := s.kube.PolicyV1().PodDisruptionBudgets(s.profile.SystemNamespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		r.errorf("list PodDisruptionBudgets: %v", err)
		return
	}
	for _, d := range deps {
		id := "Deployment " + d.ns + "/" + d.name
		how := "runs"
		if d.fromHPA {
			how = "is kept by its HPA at no fewer than"
		}
		if d.replicas >= 2 {
			r.ok(fmt.Sprintf("%s %s %d replicas", id, how, d.replicas), "", "")
		} else {
			r.finding(fmt.Sprintf("%s runs %d replica(s), want at least 2", id, d.replicas), "", "")
		}
		matched := false
		for _, p := range pdbs.Items {
			ok, err := selects(p.Spec.Selector, d.template.Labels)
			if err != nil || !ok || p.Spec.Selector == nil {
				continue
			}
			matched = true
			spec := toJSON(p.Spec)
			switch {
			case p.Spec.MaxUnavailable != nil && p.Spec.MaxUnavailable.IntValue() >= 1 && p.Spec.MaxUnavailable.IntValue() <= 1:
				r.ok(id+" is covered by PDB "+p.Name+" allowing one disruption", spec, "")
			case p.Spec.MinAvailable != nil && p.Spec.MinAvailable.IntValue() >= int(d.replicas):
				r.finding(id+": PDB "+p.Name+" minAvailable equals the replica count (drains would block)", spec, "")
			case p.Spec.MinAvailable != nil && p.Spec.MinAvailable.IntValue() == int(d.replicas)-1:
				r.ok(id+" is covered by PDB "+p.Name+" allowing one disruption", spec, "")
			default:
				r.finding(id+": PDB "+p.Name+" allows more than one disruption, or uses a percentage the suite does not evaluate", spec, "")
			}
		}
		if !matched {
			r.finding(id+" has no PodDisruptionBudget selecting its pods", "pod labels: "+toJSON(d.template.Labels), "")
		}
	}
	r.skip("PDBs of multi-replica agent workloads")
}

func checkReplicaSpread(ctx context.Context, s *session, r *record) {
	if !s.needKube(r) {
		return
	}
	deps, ok := s.agentguardDeployments(ctx, r)
	if !ok {
		return
	}
	for _, d := range deps {
		id := "Deployment " + d.ns + "/" + d.name
		spec := d.template.Spec
		spread := false
		for _, c := range spec.TopologySpreadConstraints {
			if c.TopologyKey == "kubernetes.io/hostname" || c.TopologyKey == "topology.kubernetes.io/zone" {
				spread = true
			}
		}
		if a := spec.Affinity; a != nil && a.PodAntiAffinity != nil &&
			(len(a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution) > 0 || len(a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution) > 0) {
			spread = true
		}
		if spread {
			r.ok(id+" declares topology spread or pod anti-affinity", toJSON(map[string]any{"topologySpreadConstraints": spec.TopologySpreadConstraints, "affinity": spec.Affinity}), "")
		} else {
			r.finding(id+" declares neither topology spread constraints nor pod anti-affinity", "", "")
		}
		sel, err := metav1.LabelSelectorAsSelector(d.selector)
		if err != nil {
			r.errorf("selector of %s: %v", id, err)
			return
		}
		pods, err := s.kube.CoreV1().Pods(d.ns).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
		if err != nil {
			r.errorf("list pods of %s: %v", id, err)
			return
		}
		nodes := map[string]bool{}
		for _, p := range pods.Items {
			if p.Spec.NodeName != "" {
				nodes[p.Spec.NodeName] = true
			}
		}
		switch {
		case len(nodes) >= 2:
			r.ok(fmt.Sprintf("%s pods run on %d nodes", id, len(nodes)), "", "")
		case len(pods.Items) == 0:
			r.info(id+" has no pods to locate", "", "")
		default:
			r.finding(fmt.Sprintf("%s pods all run on %d node(s)", id, len(nodes)), "", "")
		}
	}
	r.skip("zone spread (needs zone labels on nodes)", "spread of multi-replica agent workloads")
}

func checkDefaultDenyNetworkPolicies(ctx context.Context, s *session, r *record) {
	if !s.needKube(r) {
		return
	}
	nss, err := s.agentNamespaces(ctx)
	if err != nil {
		r.errorf("list agent namespaces: %v", err)
		return
	}
	if len(nss) == 0 {
		r.manual("no agent-tenant namespaces (label %s) to inspect", s.profile.TenantLabel)
		return
	}
	for _, n := range nss {
		pols, err := s.kube.NetworkingV1().NetworkPolicies(n.Name).List(ctx, metav1.ListOptions{})
		if err != nil {
			r.errorf("list NetworkPolicies in %s: %v", n.Name, err)
			return
		}
		var ingress, egress string
		for _, p := range pols.Items {
			if len(p.Spec.PodSelector.MatchLabels) > 0 || len(p.Spec.PodSelector.MatchExpressions) > 0 {
				continue
			}
			for _, t := range p.Spec.PolicyTypes {
				if t == "Ingress" && len(p.Spec.Ingress) == 0 {
					ingress = p.Name
				}
				if t == "Egress" && len(p.Spec.Egress) == 0 {
					egress = p.Name
				}
			}
		}
		names := make([]string, 0, len(pols.Items))
		for _, p := range pols.Items {
			names = append(names, p.Name)
		}
		have := "NetworkPolicies: " + strings.Join(names, ", ")
		if ingress != "" {
			r.ok("namespace "+n.Name+" denies ingress by default (policy "+ingress+")", have, "")
		} else {
			r.finding("namespace "+n.Name+" has no default-deny ingress NetworkPolicy", have, "")
		}
		if egress != "" {
			r.ok("namespace "+n.Name+" denies egress by default (policy "+egress+")", have, "")
		} else {
			r.finding("namespace "+n.Name+" has no default-deny egress NetworkPolicy", have, "")
		}
	}
	r.skip("webhook refusal of pods in namespaces without the policies", "canary connections to the registered tool, an unregistered service, the internet and the API server")
}
