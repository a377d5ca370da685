package guardrails

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	psaapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
)

// psaControl maps each Pod Security Standards check of
// k8s.io/pod-security-admission (restricted level, latest version) to the
// control it implements, with a short description and a fix. CONTROLS.md
// puts host namespaces, hostPath and hostPort under AG-GEN-001 (its check
// procedure lists them), and running as root under AG-GEN-002.
var psaControl = map[policy.CheckID]struct {
	id, what, fix string
}{
	"allowPrivilegeEscalation":   {"AG-GEN-001", "allows privilege escalation", "set securityContext.allowPrivilegeEscalation: false"},
	"appArmorProfile":            {"AG-GEN-001", "uses a forbidden AppArmor profile", "remove the AppArmor profile or use RuntimeDefault or Localhost"},
	"capabilities_baseline":      {"AG-GEN-001", "adds non-default capabilities", "remove securityContext.capabilities.add"},
	"capabilities_restricted":    {"AG-GEN-001", "has unrestricted capabilities", "set securityContext.capabilities.drop: [ALL] and add at most NET_BIND_SERVICE"},
	"hostNamespaces":             {"AG-GEN-001", "shares host namespaces", "remove hostNetwork, hostPID and hostIPC (or set them to false)"},
	"hostPathVolumes":            {"AG-GEN-001", "mounts hostPath volumes", "replace the hostPath volume with an emptyDir, a PersistentVolumeClaim or a projected volume"},
	"hostPorts":                  {"AG-GEN-001", "uses host ports", "remove ports[].hostPort (use a Service instead)"},
	"hostProbesAndHostLifecycle": {"AG-GEN-001", "points a probe or lifecycle hook at another host", "remove the host field from httpGet/tcpSocket probes and lifecycle handlers"},
	"privileged":                 {"AG-GEN-001", "is privileged", "remove securityContext.privileged or set it to false"},
	"procMount":                  {"AG-GEN-001", "uses an unmasked /proc", "remove securityContext.procMount or set it to Default"},
	"procMount_restricted":       {"AG-GEN-001", "uses an unmasked /proc", "remove securityContext.procMount or set it to Default"},
	"restrictedVolumes":          {"AG-GEN-001", "uses a restricted volume type", "use only configMap, csi, downwardAPI, emptyDir, ephemeral, image, persistentVolumeClaim, projected or secret volumes"},
	"runAsNonRoot":               {"AG-GEN-002", "may run as root", "set securityContext.runAsNonRoot: true (pod or container) and build the image with a non-root USER"},
	"runAsUser":                  {"AG-GEN-002", "runs as root", "set securityContext.runAsUser to a non-zero UID, or remove it and use the image's non-root USER"},
	"seLinuxOptions":             {"AG-GEN-001", "sets forbidden SELinux options", "remove securityContext.seLinuxOptions.user and role, and use an allowed type"},
	"seccompProfile_baseline":    {"AG-GEN-001", "uses an unconfined seccomp profile", "set securityContext.seccompProfile.type: RuntimeDefault"},
	"seccompProfile_restricted":  {"AG-GEN-001", "has no confining seccomp profile", "set securityContext.seccompProfile.type: RuntimeDefault (pod or container)"},
	"sysctls":                    {"AG-GEN-001", "sets unsafe sysctls", "remove securityContext.sysctls that are not in the safe set"},
	"windowsHostProcess":         {"AG-GEN-001", "runs as a Windows host process", "remove securityContext.windowsOptions.hostProcess"},
}

// PSACheck is one upstream Pod Security Standards check at the level
// restricted and the latest version, with the control ID it maps to.
type PSACheck struct {
	// ID is the upstream check ID (e.g. "runAsNonRoot").
	ID policy.CheckID
	// Control is the agentguard control ID.
	Control string
	// Fn is the upstream check function for the latest version.
	Fn policy.CheckPodFn
}

// RestrictedChecks returns the upstream checks that make up the restricted
// profile at its latest version, in the upstream evaluator's order (baseline
// checks not overridden by a restricted check, then restricted checks). The
// selection follows policy.NewEvaluator: the newest version of each check,
// minus baseline checks that a restricted check overrides.
func RestrictedChecks() []PSACheck {
	all := policy.DefaultChecks()
	overridden := map[policy.CheckID]bool{}
	for _, c := range all {
		if c.Level != psaapi.LevelRestricted {
			continue
		}
		for _, o := range c.Versions[len(c.Versions)-1].OverrideCheckIDs {
			overridden[o] = true
		}
	}
	var baseline, restricted []PSACheck
	for _, c := range all {
		latest := c.Versions[len(c.Versions)-1]
		pc := PSACheck{ID: c.ID, Control: psaControlID(c.ID), Fn: latest.CheckPod}
		switch {
		case c.Level == psaapi.LevelRestricted:
			restricted = append(restricted, pc)
		case !overridden[c.ID]:
			baseline = append(baseline, pc)
		}
	}
	sortPSA(baseline)
	sortPSA(restricted)
	return append(baseline, restricted...)
}

func sortPSA(cs []PSACheck) {
	for i := 1; i < len(cs); i++ {
		for j := i; j > 0 && cs[j].ID < cs[j-1].ID; j-- {
			cs[j], cs[j-1] = cs[j-1], cs[j]
		}
	}
}

func psaControlID(id policy.CheckID) string {
	if m, ok := psaControl[id]; ok {
		return m.id
	}
	return "AG-GEN-001"
}

// psaMapping returns the control ID an upstream check ID maps to, and
// whether the mapping is explicit (false means the AG-GEN-001 fallback).
func psaMapping(id policy.CheckID) (string, bool) {
	m, ok := psaControl[id]
	return m.id, ok
}

func psaChecks() []check {
	var out []check
	for _, pc := range RestrictedChecks() {
		out = append(out, check{
			name:  "psa." + string(pc.ID),
			id:    pc.Control,
			scope: scopeContainers,
			run:   psaRunner(pc),
		})
	}
	return out
}

func psaRunner(pc PSACheck) func(*evaluation) {
	m, ok := psaControl[pc.ID]
	if !ok {
		m.id, m.what, m.fix = pc.Control, "violates the Pod Security Standards check "+string(pc.ID), "see https://kubernetes.io/docs/concepts/security/pod-security-standards/"
	}
	return func(ev *evaluation) {
		meta, spec := ev.in.PodMeta, ev.in.PodSpec
		res := pc.Fn(meta, spec)
		if res.Allowed {
			return
		}
		// Attribute the failure: first to the pod itself (the spec without
		// containers), then to each container evaluated alone. The verdict
		// stays the upstream one: this runs only when the check failed.
		podOnly := *spec
		podOnly.Containers, podOnly.InitContainers, podOnly.EphemeralContainers = nil, nil, nil
		podRes := pc.Fn(meta, &podOnly)
		found := false
		if !podRes.Allowed {
			found = true
			ev.add(m.id, "pod %s (%s: %s); fix: %s", m.what, res.ForbiddenReason, detail(podRes), m.fix)
		}
		visit := func(kind string, c corev1.Container, set func(*corev1.PodSpec)) {
			one := podOnly
			set(&one)
			r := pc.Fn(meta, &one)
			if r.Allowed || (!podRes.Allowed && r.ForbiddenDetail == podRes.ForbiddenDetail) {
				return
			}
			found = true
			ev.add(m.id, "%s %q %s (%s: %s); fix: %s", kind, c.Name, m.what, r.ForbiddenReason, detail(r), m.fix)
		}
		for _, c := range spec.InitContainers {
			visit("init container", c, func(s *corev1.PodSpec) { s.InitContainers = []corev1.Container{c} })
		}
		for _, c := range spec.Containers {
			visit("container", c, func(s *corev1.PodSpec) { s.Containers = []corev1.Container{c} })
		}
		for _, c := range spec.EphemeralContainers {
			visit("ephemeral container", corev1.Container(c.EphemeralContainerCommon), func(s *corev1.PodSpec) {
				s.EphemeralContainers = []corev1.EphemeralContainer{c}
			})
		}
		if !found {
			ev.add(m.id, "pod %s (%s: %s); fix: %s", m.what, res.ForbiddenReason, detail(res), m.fix)
		}
	}
}

func detail(r policy.CheckResult) string {
	if r.ForbiddenDetail != "" {
		return r.ForbiddenDetail
	}
	if r.ForbiddenReason != "" {
		return r.ForbiddenReason
	}
	return fmt.Sprint(policy.UnknownForbiddenReason)
}

func psaID(checkName string) policy.CheckID {
	return policy.CheckID(strings.TrimPrefix(checkName, "psa."))
}
