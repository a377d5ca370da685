package conformance

import (
	"context"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func checkRestrictedSecurityContext(ctx context.Context, s *session, r *record) {
	const id = "AG-GEN-001"
	v := func(step string, m func(*corev1.Pod)) probe {
		return probe{step: step, ns: nsTenant, pod: s.compliantPod("gen001", m), deny: id}
	}
	priv := func(p *corev1.Pod) { csc(p).AllowPrivilegeEscalation = nil; csc(p).Privileged = ptrTo(true) }
	probes := []probe{
		v("privileged container", priv),
		v("allowPrivilegeEscalation: true", func(p *corev1.Pod) { csc(p).AllowPrivilegeEscalation = ptrTo(true) }),
		v("capabilities.add SYS_ADMIN", func(p *corev1.Pod) {
			csc(p).AllowPrivilegeEscalation = nil
			csc(p).Capabilities.Add = []corev1.Capability{"SYS_ADMIN"}
		}),
		v("seccompProfile Unconfined", func(p *corev1.Pod) {
			p.Spec.SecurityContext.SeccompProfile = &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined}
		}),
		v("hostNetwork: true", func(p *corev1.Pod) { p.Spec.HostNetwork = true }),
		v("hostPID: true", func(p *corev1.Pod) { p.Spec.HostPID = true }),
		v("hostIPC: true", func(p *corev1.Pod) { p.Spec.HostIPC = true }),
		v("hostPath volume", func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/etc"}}}}
		}),
		v("hostPort", func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 8080, HostPort: 8080}}
		}),
		v("privileged init container", func(p *corev1.Pod) {
			init := *p.Spec.Containers[0].DeepCopy()
			init.Name = "init"
			init.SecurityContext.AllowPrivilegeEscalation = nil
			init.SecurityContext.Privileged = ptrTo(true)
			p.Spec.InitContainers = []corev1.Container{init}
		}),
		{step: "Deployment whose pod template is privileged", ns: nsTenant, dep: deploymentOf(s.compliantPod("gen001", priv)), deny: id},
		{step: "compliant pod", ns: nsTenant, pod: s.compliantPod("gen001-ok")},
		{step: "pod that omits the security settings gets the restricted defaults", ns: nsTenant, pod: s.minimalPod("gen001-defaults"),
			verify: func(spec *corev1.PodSpec, _ *metav1.ObjectMeta) []string {
				var problems []string
				c := spec.Containers[0]
				if c.SecurityContext == nil || c.SecurityContext.AllowPrivilegeEscalation == nil || *c.SecurityContext.AllowPrivilegeEscalation {
					problems = append(problems, "allowPrivilegeEscalation: false was not filled in")
				}
				if c.SecurityContext == nil || c.SecurityContext.Capabilities == nil || !slices.Contains(c.SecurityContext.Capabilities.Drop, "ALL") {
					problems = append(problems, "capabilities.drop: [ALL] was not filled in")
				}
				podSeccomp := spec.SecurityContext != nil && spec.SecurityContext.SeccompProfile != nil && spec.SecurityContext.SeccompProfile.Type == corev1.SeccompProfileTypeRuntimeDefault
				ctrSeccomp := c.SecurityContext != nil && c.SecurityContext.SeccompProfile != nil && c.SecurityContext.SeccompProfile.Type == corev1.SeccompProfileTypeRuntimeDefault
				if !podSeccomp && !ctrSeccomp {
					problems = append(problems, "seccompProfile.type: RuntimeDefault was not filled in")
				}
				return problems
			}},
	}
	r.skip("ephemeral containers (needs a running agent pod to add one to)")
	s.runProbes(ctx, r, probes)
}

func checkNonRoot(ctx context.Context, s *session, r *record) {
	const id = "AG-GEN-002"
	root := func(p *corev1.Pod) { csc(p).RunAsUser = ptrTo(int64(0)) }
	probes := []probe{
		{step: "container runAsUser: 0", ns: nsTenant, pod: s.compliantPod("gen002", root), deny: id},
		{step: "pod runAsNonRoot: false", ns: nsTenant, pod: s.compliantPod("gen002", func(p *corev1.Pod) {
			p.Spec.SecurityContext.RunAsNonRoot = ptrTo(false)
			p.Spec.SecurityContext.RunAsUser = nil
		}), deny: id},
		{step: "Deployment whose pod template runs as UID 0", ns: nsTenant, dep: deploymentOf(s.compliantPod("gen002", root)), deny: id},
		{step: "pod without user settings gets runAsNonRoot: true", ns: nsTenant, pod: s.minimalPod("gen002-defaults"),
			verify: func(spec *corev1.PodSpec, _ *metav1.ObjectMeta) []string {
				if spec.SecurityContext == nil || spec.SecurityContext.RunAsNonRoot == nil || !*spec.SecurityContext.RunAsNonRoot {
					return []string{"runAsNonRoot: true was not filled in"}
				}
				return nil
			}},
	}
	r.skip("image config User lookup (images whose config User is empty, root or 0, for probes and running containers)")
	s.runProbes(ctx, r, probes)
	if r.forced == "" {
		s.scanRootContainers(ctx, r)
	}
}

func checkApprovedRegistries(ctx context.Context, s *session, r *record) {
	const id = "AG-GEN-003"
	bad := s.profile.Admission.DisallowedImage
	probes := []probe{
		{step: "container image " + bad, ns: nsTenant, pod: s.compliantPod("gen003", func(p *corev1.Pod) { p.Spec.Containers[0].Image = bad }), deny: id},
		{step: "init container image " + bad, ns: nsTenant, pod: s.compliantPod("gen003", func(p *corev1.Pod) {
			init := *p.Spec.Containers[0].DeepCopy()
			init.Name, init.Image = "init", bad
			p.Spec.InitContainers = []corev1.Container{init}
		}), deny: id},
		{step: "Deployment with image " + bad, ns: nsTenant, dep: deploymentOf(s.compliantPod("gen003", func(p *corev1.Pod) { p.Spec.Containers[0].Image = bad })), deny: id},
		{step: "compliant pod with image " + s.profile.Admission.Image, ns: nsTenant, pod: s.compliantPod("gen003-ok")},
	}
	r.skip("ephemeral containers", "OCI image volumes")
	s.runProbes(ctx, r, probes)
	if len(s.profile.Admission.AllowedRegistries) == 0 {
		r.skip("scan of running agent images (set admission.allowedRegistries in the profile)")
		return
	}
	if r.forced != "" {
		return
	}
	pods, err := s.agentPods(ctx)
	if err != nil {
		r.errorf("list agent pods: %v", err)
		return
	}
	for _, p := range pods {
		for _, c := range allContainers(&p.Spec) {
			if registryAllowed(c.Image, s.profile.Admission.AllowedRegistries) {
				r.ok(fmt.Sprintf("running pod %s/%s container %s uses an approved registry", p.Namespace, p.Name, c.Name), "", c.Image)
			} else {
				r.finding(fmt.Sprintf("running pod %s/%s container %s uses an image outside the allow-list", p.Namespace, p.Name, c.Name), "", c.Image)
			}
		}
	}
}

func checkNoLiteralSecrets(ctx context.Context, s *session, r *record) {
	const id = "AG-GEN-007"
	literal := func(p *corev1.Pod) {
		p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "OPENAI_API_KEY", Value: "sk-agconf-" + s.nonce + "0123456789abcdef"}}
	}
	probes := []probe{
		{step: "literal OPENAI_API_KEY value in env", ns: nsTenant, pod: s.compliantPod("gen007", literal), deny: id},
		{step: "Deployment with a literal API key in env", ns: nsTenant, dep: deploymentOf(s.compliantPod("gen007", literal)), deny: id},
		{step: "the same variable from a secretKeyRef", ns: nsTenant, pod: s.compliantPod("gen007-ok")},
	}
	r.skip("secret scan of image layers and config Env (canary image with a planted key)", "CSI secret-store volume variant")
	s.runProbes(ctx, r, probes)
}

func checkResources(ctx context.Context, s *session, r *record) {
	const id = "AG-GEN-201"
	huge := func(p *corev1.Pod) {
		q := resource.MustParse("512")
		p.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU] = q
		p.Spec.Containers[0].Resources.Limits[corev1.ResourceCPU] = q
	}
	filled := func(spec *corev1.PodSpec, _ *metav1.ObjectMeta) []string {
		var problems []string
		for _, c := range allContainers(spec) {
			if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
				problems = append(problems, fmt.Sprintf("container %s was admitted without a CPU request, memory request and memory limit", c.Name))
			}
		}
		return problems
	}
	probes := []probe{
		{step: "container above the tenant's per-container maximum (512 CPUs)", ns: nsTenant, pod: s.compliantPod("gen201", huge), deny: id},
		{step: "Deployment above the tenant's per-container maximum", ns: nsTenant, dep: deploymentOf(s.compliantPod("gen201", huge)), deny: id},
		{step: "compliant pod with requests and limits", ns: nsTenant, pod: s.compliantPod("gen201-ok")},
	}
	s.runProbes(ctx, r, probes)
	if r.forced != "" {
		return
	}
	// A pod without resources is either refused with the control ID or
	// admitted with requests and limits filled in; both enforce the control.
	for _, p := range []struct {
		step string
		pod  *corev1.Pod
	}{
		{"container without requests or limits", s.compliantPod("gen201-none", func(p *corev1.Pod) { p.Spec.Containers[0].Resources = corev1.ResourceRequirements{} })},
		{"init container without requests or limits", s.compliantPod("gen201-init", func(p *corev1.Pod) {
			init := *p.Spec.Containers[0].DeepCopy()
			init.Name, init.Resources = "init", corev1.ResourceRequirements{}
			p.Spec.InitContainers = []corev1.Container{init}
		})},
	} {
		s.denyOrMutate(ctx, r, id, p.step, p.pod, filled)
	}
	r.skip("GPU request without a GPU limit (the API server itself refuses it before admission)")
}

// denyOrMutate dry-runs pod and accepts a refusal with [id] or an
// admission whose returned spec passes verify.
func (s *session) denyOrMutate(ctx context.Context, r *record, id, step string, pod *corev1.Pod, verify func(*corev1.PodSpec, *metav1.ObjectMeta) []string) {
	ns, err := s.namespaces(ctx)
	if err != nil {
		r.errorf("%v", err)
		return
	}
	pod.Namespace = ns.tenant
	_, err = s.kube.CoreV1().Pods(ns.tenant).Create(ctx, pod.DeepCopy(), dryRunAll)
	if err != nil {
		s.runProbe(ctx, r, ns, probe{step: step, ns: nsTenant, pod: pod, deny: id})
		return
	}
	s.runProbe(ctx, r, ns, probe{step: step + " (mutated to the defaults)", ns: nsTenant, pod: pod, verify: verify})
}

func checkDedicatedServiceAccount(ctx context.Context, s *session, r *record) {
	const id = "AG-SEC-001"
	probes := []probe{
		{step: "serviceAccountName omitted", ns: nsTenant, pod: s.compliantPod("sec001", func(p *corev1.Pod) { p.Spec.ServiceAccountName = "" }), deny: id},
		{step: "serviceAccountName: default", ns: nsTenant, pod: s.compliantPod("sec001", func(p *corev1.Pod) { p.Spec.ServiceAccountName = "default" }), deny: id},
		{step: "Deployment on the default ServiceAccount", ns: nsTenant, dep: deploymentOf(s.compliantPod("sec001", func(p *corev1.Pod) { p.Spec.ServiceAccountName = "default" })), deny: id},
		{step: "pod on the agent's own ServiceAccount", ns: nsTenant, pod: s.compliantPod("sec001-ok")},
	}
	if sa := s.profile.Admission.OtherAgentServiceAccount; sa != "" {
		probes = append(probes, probe{step: "pod on another agent's ServiceAccount " + sa, ns: nsTenant,
			pod: s.compliantPod("sec001", func(p *corev1.Pod) { p.Spec.ServiceAccountName = sa }), deny: id})
	} else {
		r.skip("pod on another agent's ServiceAccount (set admission.otherAgentServiceAccount)")
	}
	r.skip("SPIFFE IDs shared by several agents")
	s.runProbes(ctx, r, probes)
	if r.forced == "" {
		s.scanSharedServiceAccounts(ctx, r)
	}
}

func checkShortLivedTokens(ctx context.Context, s *session, r *record) {
	const id = "AG-SEC-004"
	projected := func(aud string, exp int64) func(*corev1.Pod) {
		return func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "token", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
				Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Audience: aud, ExpirationSeconds: &exp, Path: "token"}}}}}}}
		}
	}
	probes := []probe{
		{step: "automountServiceAccountToken: true", ns: nsTenant, pod: s.compliantPod("sec004", func(p *corev1.Pod) { p.Spec.AutomountServiceAccountToken = ptrTo(true) }), deny: id},
		{step: "projected token valid for 24h", ns: nsTenant, pod: s.compliantPod("sec004", projected("tools.example", 86400)), deny: id},
		{step: "projected token without an audience", ns: nsTenant, pod: s.compliantPod("sec004", projected("", 600)), deny: id},
		{step: "pod that relies on the default automounted token gets automountServiceAccountToken: false", ns: nsTenant, pod: s.minimalPod("sec004-defaults"),
			verify: func(spec *corev1.PodSpec, _ *metav1.ObjectMeta) []string {
				if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
					return []string{"automountServiceAccountToken: false was not filled in"}
				}
				return nil
			}},
		{step: "projected token for a tool audience valid for 10 minutes", ns: nsTenant, pod: s.compliantPod("sec004-ok", projected("tools.example", 600))},
		{step: "legacy ServiceAccount token Secret in an agent namespace", ns: nsTenant, deny: id, secret: &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "sec004-legacy-token", Labels: map[string]string{RunLabel: s.nonce},
				Annotations: map[string]string{corev1.ServiceAccountNameKey: s.profile.Admission.ServiceAccount}},
			Type: corev1.SecretTypeServiceAccountToken,
		}},
	}
	r.skip("scan for legacy token Secrets (reading Secrets is more access than the suite asks for)")
	s.runProbes(ctx, r, probes)
}

func checkSecretAllowlist(ctx context.Context, s *session, r *record) {
	const id = "AG-SEC-103"
	bad := s.profile.Admission.DisallowedSecret
	probes := []probe{
		{step: "secretKeyRef to Secret " + bad + " (not on the agent's allow-list)", ns: nsTenant, pod: s.compliantPod("sec103", func(p *corev1.Pod) {
			p.Spec.Containers[0].Env[0].ValueFrom.SecretKeyRef.Name = bad
		}), deny: id},
		{step: "envFrom the whole Secret " + bad, ns: nsTenant, pod: s.compliantPod("sec103", func(p *corev1.Pod) {
			p.Spec.Containers[0].EnvFrom = []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: bad}}}}
		}), deny: id},
		{step: "Secret volume " + bad, ns: nsTenant, pod: s.compliantPod("sec103", func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: bad}}}}
		}), deny: id},
		{step: "allow-listed key " + s.profile.Admission.AllowedSecret.Name + "/" + s.profile.Admission.AllowedSecret.Key, ns: nsTenant, pod: s.compliantPod("sec103-ok")},
	}
	s.runProbes(ctx, r, probes)
	if r.forced == "" {
		s.scanRegistry(ctx, r, false, true)
	}
}

func checkTenancy(ctx context.Context, s *session, r *record) {
	const id = "AG-SEC-105"
	probes := []probe{
		{step: "agent pod in a namespace of another tenant (" + s.profile.Admission.OtherTenant + ")", ns: nsOther, pod: s.compliantPod("sec105"), deny: id},
		{step: "agent pod in a namespace without a tenant label", ns: nsPlain, pod: s.compliantPod("sec105"), deny: id},
		{step: "agent Deployment in a namespace of another tenant", ns: nsOther, dep: deploymentOf(s.compliantPod("sec105")), deny: id},
		{step: "agent pod in its own tenant's namespace", ns: nsTenant, pod: s.compliantPod("sec105-ok")},
	}
	s.runProbes(ctx, r, probes)
	if r.forced == "" {
		s.probeTenantLabelChange(ctx, r)
	}
}

func checkRegisteredAgents(ctx context.Context, s *session, r *record) {
	const id = "AG-SEC-012"
	unreg := func(p *corev1.Pod) { p.Labels[s.profile.AgentLabel] = s.profile.Admission.UnregisteredAgent }
	probes := []probe{
		{step: "pod of unregistered agent " + s.profile.Admission.UnregisteredAgent, ns: nsTenant, pod: s.compliantPod("sec012", unreg), deny: id},
		{step: "Deployment of an unregistered agent", ns: nsTenant, dep: deploymentOf(s.compliantPod("sec012", unreg)), deny: id},
		{step: "pod of registered agent " + s.profile.Admission.Agent, ns: nsTenant, pod: s.compliantPod("sec012-ok")},
	}
	r.skip("suspended registry entry", "launcher and launch-time stamp", "registry entry lint (owner, approver, approval date)")
	s.runProbes(ctx, r, probes)
	if r.forced == "" {
		s.scanRegistry(ctx, r, true, false)
	}
}

// allContainers returns init, regular and ephemeral containers.
func allContainers(spec *corev1.PodSpec) []corev1.Container {
	out := append([]corev1.Container{}, spec.InitContainers...)
	out = append(out, spec.Containers...)
	for _, e := range spec.EphemeralContainers {
		out = append(out, corev1.Container{Name: e.Name, Image: e.Image})
	}
	return out
}

func checkFilesystem(ctx context.Context, s *session, r *record) {
	const id = "AG-SEC-209"
	scratch := func(limit bool) func(*corev1.Pod) {
		return func(p *corev1.Pod) {
			ed := &corev1.EmptyDirVolumeSource{}
			if limit {
				ed.SizeLimit = ptrTo(resource.MustParse("64Mi"))
			}
			p.Spec.Volumes = []corev1.Volume{{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: ed}}}
			p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "scratch", MountPath: "/tmp"}}
		}
	}
	s.runProbes(ctx, r, []probe{
		{step: "emptyDir without sizeLimit", ns: nsTenant, pod: s.compliantPod("sec209", scratch(false)), deny: id},
		{step: "read-only root filesystem with a 64Mi emptyDir scratch volume", ns: nsTenant, pod: s.compliantPod("sec209-ok", scratch(true))},
	})
	if r.forced != "" {
		return
	}
	s.denyOrMutate(ctx, r, id, "container without readOnlyRootFilesystem",
		s.compliantPod("sec209-rw", func(p *corev1.Pod) { csc(p).ReadOnlyRootFilesystem = nil }),
		func(spec *corev1.PodSpec, _ *metav1.ObjectMeta) []string {
			c := spec.Containers[0]
			if c.SecurityContext == nil || c.SecurityContext.ReadOnlyRootFilesystem == nil || !*c.SecurityContext.ReadOnlyRootFilesystem {
				return []string{"readOnlyRootFilesystem: true was not filled in"}
			}
			return nil
		})
	r.skip("a PVC already used by another agent ID")
}
