package guardrails

import (
	"fmt"
	"strings"
)

// LegacyTokenVolumePrefix is the name prefix of the projected volume the
// ServiceAccount admission plugin adds for an automounted API token.
const LegacyTokenVolumePrefix = "kube-api-access-"

// checkServiceAccount implements AG-SEC-001: each agent runs under its own
// ServiceAccount, never "default", and never one registered to another agent.
func checkServiceAccount(ev *evaluation) {
	const id = "AG-SEC-001"
	sa := ev.in.PodSpec.ServiceAccountName
	agent, registered := ev.e.AgentSettings(ev.in)
	if sa == "" || sa == "default" {
		want := "a ServiceAccount created for this agent"
		if agent.ServiceAccount != "" {
			want = "ServiceAccount " + agent.ServiceAccount
		}
		ev.add(id, "pod runs under the namespace's default ServiceAccount (spec.serviceAccountName is %q); fix: set spec.serviceAccountName to %s", sa, want)
		return
	}
	if registered && agent.ServiceAccount != "" && agent.ServiceAccount != sa {
		ev.add(id, "pod of agent %q runs under ServiceAccount %q, but the agent is registered with ServiceAccount %q; fix: set spec.serviceAccountName: %s",
			ev.d.Agent, sa, agent.ServiceAccount, agent.ServiceAccount)
		return
	}
	for _, other := range sortedKeys(ev.e.cfg.Agents) {
		a := ev.e.cfg.Agents[other]
		if other == ev.d.Agent || a.ServiceAccount != sa {
			continue
		}
		if a.Tenant != "" && ev.d.Tenant != "" && a.Tenant != ev.d.Tenant {
			continue
		}
		who := fmt.Sprintf("pod of agent %q", ev.d.Agent)
		if ev.d.Agent == "" {
			who = "pod without an " + LabelAgent + " label"
		}
		ev.add(id, "%s runs under ServiceAccount %q, which is registered to agent %q; fix: give this workload its own ServiceAccount",
			who, sa, other)
		return
	}
}

// checkToken implements AG-SEC-004: no automounted legacy API token unless
// the agent's registry entry allows it, and projected service account tokens
// are short-lived and audience-bound.
func checkToken(ev *evaluation) {
	const id = "AG-SEC-004"
	spec := ev.in.PodSpec
	agent, _ := ev.e.AgentSettings(ev.in)
	if !agent.AutomountServiceAccountToken {
		if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
			ev.add(id, "pod automounts its ServiceAccount API token (spec.automountServiceAccountToken is not false); fix: set spec.automountServiceAccountToken: false and mount a projected token with an audience and expirationSeconds <= %d if the agent needs one",
				ev.e.cfg.Tokens.MaxExpirationSeconds)
		}
	}
	max := ev.e.cfg.Tokens.MaxExpirationSeconds
	for _, v := range spec.Volumes {
		if v.Projected == nil {
			continue
		}
		legacy := strings.HasPrefix(v.Name, LegacyTokenVolumePrefix)
		for _, src := range v.Projected.Sources {
			t := src.ServiceAccountToken
			if t == nil {
				continue
			}
			if legacy {
				if !agent.AutomountServiceAccountToken {
					ev.add(id, "volume %q mounts the automounted ServiceAccount API token; fix: set spec.automountServiceAccountToken: false", v.Name)
				}
				continue
			}
			if t.ExpirationSeconds != nil && *t.ExpirationSeconds > max {
				ev.add(id, "volume %q: projected ServiceAccount token expirationSeconds is %d, above the maximum %d; fix: set serviceAccountToken.expirationSeconds to at most %d",
					v.Name, *t.ExpirationSeconds, max, max)
			}
			if t.Audience == "" {
				ev.add(id, "volume %q: projected ServiceAccount token has no audience, so it is valid for the Kubernetes API; fix: set serviceAccountToken.audience to the service that consumes it", v.Name)
			}
		}
	}
}

// checkTokenSecret implements AG-SEC-004 for Secrets: no legacy,
// long-lived ServiceAccount token Secrets in agent tenant namespaces.
func checkTokenSecret(ev *evaluation) {
	const id = "AG-SEC-004"
	if ev.in.SecretType == "kubernetes.io/service-account-token" {
		ev.add(id, "Secret %q of type kubernetes.io/service-account-token holds a long-lived ServiceAccount token in tenant namespace %q; fix: use a projected ServiceAccount token with an audience and expirationSeconds (or the TokenRequest API) instead",
			ev.in.Name, ev.in.Namespace)
	}
}

// checkTenancy implements AG-SEC-105 for pods: an agent runs in a tenant
// namespace, and in the tenant its registry entry names.
func checkTenancy(ev *evaluation) {
	const id = "AG-SEC-105"
	tenant := ev.d.Tenant
	if tenant == "" {
		ev.add(id, "agent %q runs in namespace %q, which is not an agent tenant namespace (no %s label); fix: deploy it into its tenant's namespace",
			ev.d.Agent, ev.in.Namespace, LabelTenant)
		return
	}
	if agent, ok := ev.e.AgentSettings(ev.in); ok && agent.Tenant != "" && agent.Tenant != tenant {
		ev.add(id, "agent %q is registered to tenant %q but runs in namespace %q of tenant %q; fix: deploy it into a namespace of tenant %q",
			ev.d.Agent, agent.Tenant, ev.in.Namespace, tenant, agent.Tenant)
	}
	if v, ok := ev.in.PodMeta.Labels[LabelTenant]; ok && v != tenant {
		ev.add(id, "pod label %s=%q contradicts its namespace's tenant %q; fix: remove the label or set it to %q", LabelTenant, v, tenant, tenant)
	}
}

// checkRegistry implements AG-SEC-012 when the config requires registered
// agents: the agent ID must be in the registry and not suspended.
func checkRegistry(ev *evaluation) {
	const id = "AG-SEC-012"
	if !ev.e.cfg.RequireRegisteredAgents {
		return
	}
	if ev.d.Agent == "" {
		ev.add(id, "pod in tenant namespace %q has no %s label; fix: label the pod (template) with its registered agent ID", ev.in.Namespace, LabelAgent)
		return
	}
	agent, ok := ev.e.AgentSettings(ev.in)
	switch {
	case !ok:
		ev.add(id, "agent %q is not in the agent registry; fix: register it under agents in admission/config.yaml", ev.d.Agent)
	case agent.Suspended:
		ev.add(id, "agent %q is suspended in the agent registry; fix: reactivate it (agents.%s.suspended: false)", ev.d.Agent, ev.d.Agent)
	}
}

// checkProtectedLabels implements the label part of AG-SEC-105: only admin
// groups may set, change or remove a Namespace's tenant label, or change or
// remove a workload's agent and tenant labels.
func checkProtectedLabels(ev *evaluation) {
	const id = "AG-SEC-105"
	in := ev.in
	if in.User == nil || ev.e.cfg.isAdmin(in.User.Groups) {
		return
	}
	keys := []string{LabelAgent, LabelTenant}
	if in.IsNamespace() {
		keys = []string{LabelTenant}
	}
	for _, k := range keys {
		newV, hasNew := in.Labels[k]
		oldV, hasOld := in.OldLabels[k]
		var verb string
		switch {
		case !in.OldExists && hasNew && in.IsNamespace():
			verb = "set"
		case !in.OldExists:
			continue
		case hasOld && !hasNew:
			verb = "remove"
		case !hasOld && hasNew:
			verb = "add"
		case oldV != newV:
			verb = "change"
		default:
			continue
		}
		ev.add(id, "user %q may not %s the protected label %s on %s %q (old %q, new %q); fix: ask a member of %s to make this change",
			in.User.Username, verb, k, in.Kind, in.Name, oldV, newV, strings.Join(ev.e.cfg.AdminGroups, ", "))
	}
}
