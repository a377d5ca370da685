package guardrails

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
)

// TenantOf returns the settings of in's tenant (zero if none).
func (e *Engine) TenantOf(in *Input) Tenant {
	return e.cfg.Tenants[in.NamespaceLabels[LabelTenant]]
}

// checkPlacement implements AG-SEC-107: a tenant's agent pods stay on the
// tenant's nodes and use only its extended resources.
func checkPlacement(ev *evaluation) {
	const id = "AG-SEC-107"
	t := ev.e.TenantOf(ev.in)
	spec := ev.in.PodSpec
	tenant := ev.d.Tenant
	for _, k := range sortedKeys(t.NodeSelector) {
		want := t.NodeSelector[k]
		got, ok := spec.NodeSelector[k]
		switch {
		case !ok:
			ev.add(id, "pod has no nodeSelector %s=%s, so it may land on another tenant's nodes; fix: set spec.nodeSelector[%q]: %q (the mutating webhook sets it when absent)", k, want, k, want)
		case got != want:
			ev.add(id, "pod selects nodes with %s=%s, but tenant %q runs on %s=%s; fix: set spec.nodeSelector[%q]: %q", k, got, tenant, k, want, k, want)
		}
		if a := spec.Affinity; a != nil && a.NodeAffinity != nil && a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution != nil {
			for _, term := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
				for _, m := range term.MatchExpressions {
					if m.Key == k && !affinityAllows(m, want) {
						ev.add(id, "pod's required node affinity on %s excludes tenant %q's nodes (%s=%s); fix: remove that term or require %s In [%s]", k, tenant, k, want, k, want)
					}
				}
			}
		}
	}
	keys := map[string]string{}
	for _, tol := range t.Tolerations {
		keys[tol.Key] = tol.Value
	}
	for _, tol := range spec.Tolerations {
		switch {
		case tol.Key == "" && tol.Operator == corev1.TolerationOpExists:
			ev.add(id, "pod tolerates every taint (operator Exists without a key), so it may run on any tenant's nodes; fix: tolerate only the taints of tenant %q", tenant)
		case len(keys) > 0:
			if want, ok := keys[tol.Key]; ok && (tol.Operator == corev1.TolerationOpExists || tol.Value != want) {
				ev.add(id, "pod tolerates taint %s=%s, which keeps other tenants' pods off their nodes; fix: tolerate only %s=%s", tol.Key, tol.Value, tol.Key, want)
			}
		}
	}
	if len(t.ExtendedResources) > 0 {
		forEachContainer(spec, func(kind string, c *corev1.Container) {
			seen := map[corev1.ResourceName]bool{}
			for _, l := range []corev1.ResourceList{c.Resources.Requests, c.Resources.Limits} {
				for _, name := range sortedResourceNames(l) {
					if standardResource(name) || seen[name] || slices.Contains(t.ExtendedResources, name) {
						continue
					}
					seen[name] = true
					ev.add(id, "%s %q asks for %s, which tenant %q may not use; fix: use one of %v", kind, c.Name, name, tenant, t.ExtendedResources)
				}
			}
		})
	}
}

func affinityAllows(m corev1.NodeSelectorRequirement, want string) bool {
	switch m.Operator {
	case corev1.NodeSelectorOpIn:
		return slices.Contains(m.Values, want)
	case corev1.NodeSelectorOpNotIn:
		return !slices.Contains(m.Values, want)
	case corev1.NodeSelectorOpDoesNotExist:
		return false
	}
	return true
}

// checkRuntimeClass implements AG-SEC-109: tenants that need a sandbox run
// every agent pod in their RuntimeClass.
func checkRuntimeClass(ev *evaluation) {
	const id = "AG-SEC-109"
	want := ev.e.TenantOf(ev.in).RuntimeClassName
	if want == "" {
		return
	}
	got := ev.in.PodSpec.RuntimeClassName
	switch {
	case got == nil || *got == "":
		ev.add(id, "pod has no runtimeClassName, but tenant %q runs agents in the sandboxed runtime %q; fix: set spec.runtimeClassName: %s (the mutating webhook sets it when absent)", ev.d.Tenant, want, want)
	case *got != want:
		ev.add(id, "pod uses runtimeClassName %q, but tenant %q runs agents in the sandboxed runtime %q; fix: set spec.runtimeClassName: %s", *got, ev.d.Tenant, want, want)
	}
}
