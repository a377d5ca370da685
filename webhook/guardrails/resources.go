package guardrails

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// builtinChecks are the guardrails beyond the Pod Security Standards, in
// evaluation order.
var builtinChecks = []check{
	{name: "resources", id: "AG-GEN-201", scope: scopeContainers, run: checkResources},
	{name: "registries", id: "AG-GEN-003", scope: scopeContainers, run: checkRegistries},
	{name: "env-secrets", id: "AG-GEN-007", scope: scopeContainers, run: checkEnvSecrets},
	{name: "tenancy", id: "AG-SEC-105", scope: scopeAgents, run: checkTenancy},
	{name: "agent-registry", id: "AG-SEC-012", scope: scopeAgents, run: checkRegistry},
	{name: "service-account", id: "AG-SEC-001", scope: scopeAgents, run: checkServiceAccount},
	{name: "token", id: "AG-SEC-004", scope: scopeAgents, run: checkToken},
	{name: "token-secrets", id: "AG-SEC-004", scope: scopeTenantSecrets, run: checkTokenSecret},
	{name: "secret-refs", id: "AG-SEC-103", scope: scopeAgents, run: checkSecretRefs},
	{name: "placement", id: "AG-SEC-107", scope: scopeAgents, run: checkPlacement},
	{name: "runtime-class", id: "AG-SEC-109", scope: scopeAgents, run: checkRuntimeClass},
	{name: "protected-labels", id: "AG-SEC-105", scope: scopeLabels, run: checkProtectedLabels},
}

// knownModeKey reports whether k may be a key of Config.Modes: a built-in
// check name or something shaped like a control ID.
func knownModeKey(k string) bool {
	if k == CheckImages {
		return true
	}
	for _, c := range builtinChecks {
		if c.name == k {
			return true
		}
	}
	if strings.HasPrefix(k, "psa.") {
		_, ok := psaControl[psaID(k)]
		return ok
	}
	return looksLikeID(k)
}

// looksLikeID accepts IDs such as AG-GEN-201 or CORP-007: upper-case
// letters and digits in at least two dash-separated parts.
func looksLikeID(k string) bool {
	parts := strings.Split(k, "-")
	if len(parts) < 2 {
		return false
	}
	for _, p := range parts {
		if p == "" {
			return false
		}
		for _, r := range p {
			if (r < 'A' || r > 'Z') && (r < '0' || r > '9') {
				return false
			}
		}
	}
	return true
}

// forEachContainer calls fn for every init, regular and ephemeral container.
func forEachContainer(spec *corev1.PodSpec, fn func(kind string, c *corev1.Container)) {
	for i := range spec.InitContainers {
		fn("init container", &spec.InitContainers[i])
	}
	for i := range spec.Containers {
		fn("container", &spec.Containers[i])
	}
	for i := range spec.EphemeralContainers {
		fn("ephemeral container", (*corev1.Container)(&spec.EphemeralContainers[i].EphemeralContainerCommon))
	}
}

// standardResource reports whether name is a resource Kubernetes does not
// require a limit for (cpu, memory, ephemeral-storage, hugepages-*).
func standardResource(name corev1.ResourceName) bool {
	switch name {
	case corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage:
		return true
	}
	return strings.HasPrefix(string(name), corev1.ResourceHugePagesPrefix)
}

// checkResources implements AG-GEN-201: CPU and memory requests and a memory
// limit on every container, limits for extended resources (GPUs), and the
// tenant's per-container maxima.
func checkResources(ev *evaluation) {
	const id = "AG-GEN-201"
	var maxima corev1.ResourceList
	if t, ok := ev.e.cfg.Tenants[ev.d.Tenant]; ok {
		maxima = t.MaxPerContainer
	}
	forEachContainer(ev.in.PodSpec, func(kind string, c *corev1.Container) {
		req, lim := c.Resources.Requests, c.Resources.Limits
		var missing []string
		if _, ok := req[corev1.ResourceCPU]; !ok {
			missing = append(missing, "resources.requests.cpu")
		}
		if _, ok := req[corev1.ResourceMemory]; !ok {
			missing = append(missing, "resources.requests.memory")
		}
		if _, ok := lim[corev1.ResourceMemory]; !ok {
			missing = append(missing, "resources.limits.memory")
		}
		switch {
		case len(missing) > 0 && kind == "ephemeral container":
			// The API server forbids resources on ephemeral containers, so
			// the only fixes are an exemption or a softer mode.
			ev.add(id, "%s %q has no %s and ephemeral containers cannot declare resources; fix: debug agent pods through an exempt namespace or label, or set modes.resources (or AG-GEN-201) to warn in admission/config.yaml",
				kind, c.Name, strings.Join(missing, ", "))
		case len(missing) > 0:
			ev.add(id, "%s %q has no %s; fix: set them (e.g. requests cpu: 100m, memory: 128Mi; limits memory: 256Mi)",
				kind, c.Name, strings.Join(missing, ", "))
		}
		for _, name := range sortedResourceNames(req) {
			if standardResource(name) {
				continue
			}
			if _, ok := lim[name]; !ok {
				ev.add(id, "%s %q requests %s without a limit; fix: set resources.limits[%q] (equal to the request)", kind, c.Name, name, name)
			}
		}
		for _, name := range sortedResourceNames(maxima) {
			max := maxima[name]
			for _, side := range []struct {
				field string
				list  corev1.ResourceList
			}{{"requests", req}, {"limits", lim}} {
				if q, ok := side.list[name]; ok && q.Cmp(max) > 0 {
					ev.add(id, "%s %q: resources.%s[%q] is %s, above tenant %q's per-container maximum %s; fix: lower it to at most %s",
						kind, c.Name, side.field, name, q.String(), ev.d.Tenant, max.String(), max.String())
				}
			}
		}
	})
}

func sortedResourceNames(l corev1.ResourceList) []corev1.ResourceName {
	if len(l) == 0 {
		return nil
	}
	names := make([]corev1.ResourceName, 0, len(l))
	for n := range l {
		names = append(names, n)
	}
	for i := 1; i < len(names); i++ {
		for j := i; j > 0 && names[j] < names[j-1]; j-- {
			names[j], names[j-1] = names[j-1], names[j]
		}
	}
	return names
}
