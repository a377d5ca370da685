package e2e

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/agentguard/agentguard/webhook/guardrails"
)

var dryRun = metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}

// agentPod is a pod the default bundle admits once the mutating webhook
// has filled in the secure defaults.
func agentPod(name string, mods ...func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{guardrails.LabelAgent: "research-bot"}},
		Spec: corev1.PodSpec{
			ServiceAccountName: "research-bot",
			Containers: []corev1.Container{{
				Name: "app", Image: "registry.corp.example/agents/research-bot:1.4.2",
				Env: []corev1.EnvVar{{Name: "OPENAI_API_KEY", ValueFrom: &corev1.EnvVarSource{
					SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "openai"}, Key: "api-key"},
				}}},
			}},
		},
	}
	for _, m := range mods {
		m(p)
	}
	return p
}

func sc(p *corev1.Pod) *corev1.SecurityContext {
	if p.Spec.Containers[0].SecurityContext == nil {
		p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{}
	}
	return p.Spec.Containers[0].SecurityContext
}

func ptr[T any](v T) *T { return &v }

// wantDenied requires err to be an admission denial carrying [id].
func wantDenied(t *testing.T, err error, id string) {
	t.Helper()
	if err == nil {
		t.Fatalf("admitted; want a denial with [%s]", id)
	}
	if !apierrors.IsForbidden(err) && !apierrors.IsInvalid(err) && !apierrors.IsBadRequest(err) {
		t.Logf("denial is not Forbidden: %T", err)
	}
	if !strings.Contains(err.Error(), "["+id+"]") {
		t.Fatalf("denied without [%s]: %v", id, err)
	}
}

type warnings struct {
	mu  sync.Mutex
	all []string
}

func (w *warnings) HandleWarningHeader(_ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.all = append(w.all, text)
}

func (w *warnings) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.all
	w.all = nil
	return out
}

func TestWebhookAgainstKubeAPIServer(t *testing.T) {
	c := startCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	wp := startWebhook(t, c)

	for _, ns := range []*corev1.Namespace{
		{ObjectMeta: metav1.ObjectMeta{Name: "team-a", Labels: map[string]string{guardrails.LabelTenant: "team-a"}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "team-b", Labels: map[string]string{guardrails.LabelTenant: "team-b"}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "plain"}},
	} {
		_, err := c.client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{})
		must(t, err, "create namespace %s", ns.Name)
	}
	registerWebhooks(ctx, t, c, wp)

	pods := c.client.CoreV1().Pods("team-a")
	// The API server picks up new webhook configurations asynchronously.
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := pods.Create(ctx, agentPod("probe", func(p *corev1.Pod) { sc(p).Privileged = ptr(true) }), dryRun)
		if err != nil && strings.Contains(err.Error(), "[AG-GEN-001]") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("webhook never took effect; last result: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}

	t.Run("violating pods are refused with their control ID", func(t *testing.T) {
		tests := []struct {
			name string
			ns   string
			mod  func(*corev1.Pod)
			id   string
		}{
			{"privileged", "team-a", func(p *corev1.Pod) { sc(p).Privileged = ptr(true) }, "AG-GEN-001"},
			{"allowPrivilegeEscalation", "team-a", func(p *corev1.Pod) { sc(p).AllowPrivilegeEscalation = ptr(true) }, "AG-GEN-001"},
			{"add SYS_ADMIN", "team-a", func(p *corev1.Pod) {
				sc(p).Capabilities = &corev1.Capabilities{Add: []corev1.Capability{"SYS_ADMIN"}, Drop: []corev1.Capability{"ALL"}}
			}, "AG-GEN-001"},
			{"seccomp Unconfined", "team-a", func(p *corev1.Pod) {
				sc(p).SeccompProfile = &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined}
			}, "AG-GEN-001"},
			{"hostNetwork", "team-a", func(p *corev1.Pod) { p.Spec.HostNetwork = true }, "AG-GEN-001"},
			{"hostPID", "team-a", func(p *corev1.Pod) { p.Spec.HostPID = true }, "AG-GEN-001"},
			{"hostIPC", "team-a", func(p *corev1.Pod) { p.Spec.HostIPC = true }, "AG-GEN-001"},
			{"hostPath", "team-a", func(p *corev1.Pod) {
				p.Spec.Volumes = []corev1.Volume{{Name: "h", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/etc"}}}}
			}, "AG-GEN-001"},
			{"hostPort", "team-a", func(p *corev1.Pod) {
				p.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 8080, HostPort: 8080}}
			}, "AG-GEN-001"},
			{"privileged init container", "team-a", func(p *corev1.Pod) {
				p.Spec.InitContainers = []corev1.Container{{Name: "init", Image: p.Spec.Containers[0].Image,
					SecurityContext: &corev1.SecurityContext{Privileged: ptr(true)}}}
			}, "AG-GEN-001"},
			{"runAsUser 0", "team-a", func(p *corev1.Pod) { sc(p).RunAsUser = ptr(int64(0)) }, "AG-GEN-002"},
			{"runAsNonRoot false", "team-a", func(p *corev1.Pod) { sc(p).RunAsNonRoot = ptr(false) }, "AG-GEN-002"},
			{"image from docker.io", "team-a", func(p *corev1.Pod) { p.Spec.Containers[0].Image = "docker.io/library/busybox:1.36" }, "AG-GEN-003"},
			{"literal API key", "team-a", func(p *corev1.Pod) {
				p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "OPENAI_API_KEY", Value: "sk-test-0123456789abcdefghij"}}
			}, "AG-GEN-007"},
			{"cpu above the tenant maximum", "team-a", func(p *corev1.Pod) {
				p.Spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("16")}
				p.Spec.Containers[0].Resources.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("16")}
			}, "AG-GEN-201"},
			{"default ServiceAccount", "team-a", func(p *corev1.Pod) { p.Spec.ServiceAccountName = "" }, "AG-SEC-001"},
			{"automounted token", "team-a", func(p *corev1.Pod) { p.Spec.AutomountServiceAccountToken = ptr(true) }, "AG-SEC-004"},
			{"long-lived projected token", "team-a", func(p *corev1.Pod) {
				p.Spec.Volumes = []corev1.Volume{{Name: "tok", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
					Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{
						Audience: "tools.example", ExpirationSeconds: ptr(int64(86400)), Path: "token"}}}}}}}
			}, "AG-SEC-004"},
			{"Secret not on the allowlist", "team-a", func(p *corev1.Pod) {
				p.Spec.Containers[0].EnvFrom = []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "db-admin"}}}}
			}, "AG-SEC-103"},
			{"agent of another tenant", "team-b", nil, "AG-SEC-105"},
			{"agent outside a tenant namespace", "plain", nil, "AG-SEC-105"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				p := agentPod("bad")
				if tt.mod != nil {
					tt.mod(p)
				}
				_, err := c.client.CoreV1().Pods(tt.ns).Create(ctx, p, dryRun)
				wantDenied(t, err, tt.id)
				// The real create is refused the same way.
				_, err = c.client.CoreV1().Pods(tt.ns).Create(ctx, p, metav1.CreateOptions{})
				wantDenied(t, err, tt.id)
			})
		}
	})

	t.Run("compliant pod is admitted with secure defaults", func(t *testing.T) {
		dry, err := pods.Create(ctx, agentPod("good"), dryRun)
		must(t, err, "dry-run create")
		checkMutated(t, &dry.ObjectMeta, &dry.Spec)
		_, err = pods.Create(ctx, agentPod("good"), metav1.CreateOptions{})
		must(t, err, "create")
		stored, err := pods.Get(ctx, "good", metav1.GetOptions{})
		must(t, err, "get")
		checkMutated(t, &stored.ObjectMeta, &stored.Spec)
		for _, k := range []string{guardrails.AnnotationAdmitted, guardrails.AnnotationLaunchedBy, guardrails.AnnotationLaunchedAt} {
			if stored.Annotations[k] == "" {
				t.Errorf("stored agent pod has no %s stamp: %v", k, stored.Annotations)
			}
		}
	})

	t.Run("explicit settings are kept", func(t *testing.T) {
		p := agentPod("explicit", func(p *corev1.Pod) {
			sc(p).RunAsUser = ptr(int64(1234))
			sc(p).Capabilities = &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}, Add: []corev1.Capability{"NET_BIND_SERVICE"}}
			p.Spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m")}
		})
		got, err := pods.Create(ctx, p, dryRun)
		must(t, err, "dry-run create")
		csc := got.Spec.Containers[0].SecurityContext
		if *csc.RunAsUser != 1234 || !cmp.Equal(csc.Capabilities.Add, []corev1.Capability{"NET_BIND_SERVICE"}) {
			t.Errorf("explicit securityContext changed: %+v", csc)
		}
		if q := got.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU]; q.String() != "250m" {
			t.Errorf("explicit cpu request changed to %s", q.String())
		}
	})

	t.Run("warn-mode custom Rego rule admits with a warning", func(t *testing.T) {
		w := &warnings{}
		cfg := rest.CopyConfig(c.cfg)
		cfg.WarningHandler = w
		client, err := kubernetes.NewForConfig(cfg)
		must(t, err, "client")
		p := agentPod("latest", func(p *corev1.Pod) { p.Spec.Containers[0].Image = "registry.corp.example/agents/research-bot:latest" })
		_, err = client.CoreV1().Pods("team-a").Create(ctx, p, dryRun)
		must(t, err, "dry-run create")
		got := w.take()
		if len(got) != 1 || !strings.Contains(got[0], "[AG-CUSTOM-001]") {
			t.Errorf("warnings = %q, want one [AG-CUSTOM-001]", got)
		}
	})

	t.Run("non-agent pods outside tenant namespaces are untouched", func(t *testing.T) {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "web", Image: "nginx"}}}}
		got, err := c.client.CoreV1().Pods("plain").Create(ctx, p, dryRun)
		must(t, err, "dry-run create")
		if got.Spec.SecurityContext != nil && got.Spec.SecurityContext.RunAsNonRoot != nil {
			t.Errorf("non-agent pod was mutated: %+v", got.Spec.SecurityContext)
		}
	})

	t.Run("deployments", func(t *testing.T) {
		deploys := c.client.AppsV1().Deployments("team-a")
		bad := deployment("bad", agentPod("", func(p *corev1.Pod) { sc(p).Privileged = ptr(true) }))
		_, err := deploys.Create(ctx, bad, dryRun)
		wantDenied(t, err, "AG-GEN-001")
		_, err = deploys.Create(ctx, bad, metav1.CreateOptions{})
		wantDenied(t, err, "AG-GEN-001")

		good := deployment("good", agentPod(""))
		dry, err := deploys.Create(ctx, good, dryRun)
		must(t, err, "dry-run create")
		checkMutated(t, &dry.Spec.Template.ObjectMeta, &dry.Spec.Template.Spec)
		_, err = deploys.Create(ctx, good, metav1.CreateOptions{})
		must(t, err, "create")
		stored, err := deploys.Get(ctx, "good", metav1.GetOptions{})
		must(t, err, "get")
		checkMutated(t, &stored.Spec.Template.ObjectMeta, &stored.Spec.Template.Spec)
		if stored.Spec.Template.Annotations[guardrails.AnnotationLaunchedBy] == "" {
			t.Errorf("template has no %s stamp", guardrails.AnnotationLaunchedBy)
		}

		// An update that breaks the template is refused too.
		stored.Spec.Template.Spec.HostNetwork = true
		_, err = deploys.Update(ctx, stored, metav1.UpdateOptions{})
		wantDenied(t, err, "AG-GEN-001")
	})

	t.Run("statefulsets, daemonsets and replicasets", func(t *testing.T) {
		sel := func(name string) *metav1.LabelSelector {
			return &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}}
		}
		tmpl := func(name string, mods ...func(*corev1.Pod)) corev1.PodTemplateSpec {
			p := agentPod("", mods...)
			p.Labels["app"] = name
			return corev1.PodTemplateSpec{ObjectMeta: p.ObjectMeta, Spec: p.Spec}
		}
		hostNet := func(p *corev1.Pod) { p.Spec.HostNetwork = true }
		apps := c.client.AppsV1()
		tests := []struct {
			name   string
			create func(mods ...func(*corev1.Pod)) (*corev1.PodTemplateSpec, error)
		}{
			{"StatefulSet", func(mods ...func(*corev1.Pod)) (*corev1.PodTemplateSpec, error) {
				o, err := apps.StatefulSets("team-a").Create(ctx, &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "ss"},
					Spec: appsv1.StatefulSetSpec{Selector: sel("ss"), Template: tmpl("ss", mods...)}}, dryRun)
				if err != nil {
					return nil, err
				}
				return &o.Spec.Template, nil
			}},
			{"DaemonSet", func(mods ...func(*corev1.Pod)) (*corev1.PodTemplateSpec, error) {
				o, err := apps.DaemonSets("team-a").Create(ctx, &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "ds"},
					Spec: appsv1.DaemonSetSpec{Selector: sel("ds"), Template: tmpl("ds", mods...)}}, dryRun)
				if err != nil {
					return nil, err
				}
				return &o.Spec.Template, nil
			}},
			{"ReplicaSet", func(mods ...func(*corev1.Pod)) (*corev1.PodTemplateSpec, error) {
				o, err := apps.ReplicaSets("team-a").Create(ctx, &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "rs"},
					Spec: appsv1.ReplicaSetSpec{Selector: sel("rs"), Template: tmpl("rs", mods...)}}, dryRun)
				if err != nil {
					return nil, err
				}
				return &o.Spec.Template, nil
			}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				_, err := tt.create(hostNet)
				wantDenied(t, err, "AG-GEN-001")
				got, err := tt.create()
				must(t, err, "dry-run create")
				checkMutated(t, &got.ObjectMeta, &got.Spec)
			})
		}
	})

	t.Run("ephemeral containers without resources are refused", func(t *testing.T) {
		p, err := pods.Get(ctx, "good", metav1.GetOptions{})
		must(t, err, "get")
		p.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
			Name: "debug", Image: "registry.corp.example/debug:1",
			SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: ptr(false), Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}},
		}}}
		_, err = pods.UpdateEphemeralContainers(ctx, "good", p, metav1.UpdateOptions{})
		wantDenied(t, err, "AG-GEN-201")
		if !strings.Contains(err.Error(), `ephemeral container "debug"`) {
			t.Errorf("denied for another reason: %v", err)
		}
	})

	t.Run("cronjobs and jobs", func(t *testing.T) {
		p := agentPod("", func(p *corev1.Pod) { sc(p).RunAsUser = ptr(int64(0)); p.Spec.RestartPolicy = corev1.RestartPolicyNever })
		cj := &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Name: "nightly"}, Spec: batchv1.CronJobSpec{
			Schedule: "0 3 * * *",
			JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{
				ObjectMeta: p.ObjectMeta, Spec: p.Spec}}},
		}}
		_, err := c.client.BatchV1().CronJobs("team-a").Create(ctx, cj, dryRun)
		wantDenied(t, err, "AG-GEN-002")

		good := agentPod("", func(p *corev1.Pod) { p.Spec.RestartPolicy = corev1.RestartPolicyNever })
		job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "once"}, Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{
			ObjectMeta: good.ObjectMeta, Spec: good.Spec}}}
		got, err := c.client.BatchV1().Jobs("team-a").Create(ctx, job, dryRun)
		must(t, err, "dry-run create job")
		checkMutated(t, &got.Spec.Template.ObjectMeta, &got.Spec.Template.Spec)
	})

	t.Run("no legacy token Secrets in tenant namespaces", func(t *testing.T) {
		tok := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "tok", Annotations: map[string]string{corev1.ServiceAccountNameKey: "research-bot"}},
			Type: corev1.SecretTypeServiceAccountToken}
		_, err := c.client.CoreV1().Secrets("team-a").Create(ctx, tok, dryRun)
		wantDenied(t, err, "AG-SEC-004")
		opaque := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "openai"}, StringData: map[string]string{"api-key": "x"}}
		_, err = c.client.CoreV1().Secrets("team-a").Create(ctx, opaque, metav1.CreateOptions{})
		must(t, err, "create an ordinary Secret")
	})

	t.Run("tenant label is protected", func(t *testing.T) {
		_, err := c.client.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{
			ObjectMeta: metav1.ObjectMeta{Name: "ns-editor"},
			Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: []string{"get", "create", "update", "patch"}}},
		}, metav1.CreateOptions{})
		must(t, err, "create ClusterRole")
		_, err = c.client.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "dev-ns-editor"},
			RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "ns-editor"},
			Subjects:   []rbacv1.Subject{{Kind: "User", APIGroup: "rbac.authorization.k8s.io", Name: "dev"}},
		}, metav1.CreateOptions{})
		must(t, err, "create ClusterRoleBinding")
		cfg := rest.CopyConfig(c.cfg)
		cfg.Impersonate = rest.ImpersonationConfig{UserName: "dev", Groups: []string{"system:authenticated"}}
		dev, err := kubernetes.NewForConfig(cfg)
		must(t, err, "client")

		// The apiserver's RBAC cache learns of the new binding
		// asynchronously: wait until dev may read the namespace.
		var ns *corev1.Namespace
		for deadline := time.Now().Add(20 * time.Second); ; {
			if ns, err = dev.CoreV1().Namespaces().Get(ctx, "team-a", metav1.GetOptions{}); err == nil || !apierrors.IsForbidden(err) || time.Now().After(deadline) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		must(t, err, "get namespace as dev")
		ns.Labels[guardrails.LabelTenant] = "team-b"
		_, err = dev.CoreV1().Namespaces().Update(ctx, ns, metav1.UpdateOptions{})
		wantDenied(t, err, "AG-SEC-105")

		_, err = dev.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
			Name: "sneaky", Labels: map[string]string{guardrails.LabelTenant: "team-a"}}}, metav1.CreateOptions{})
		wantDenied(t, err, "AG-SEC-105")

		// Other label changes by the same user are fine.
		ns, err = dev.CoreV1().Namespaces().Get(ctx, "team-a", metav1.GetOptions{})
		must(t, err, "get namespace as dev")
		ns.Labels["team"] = "research"
		_, err = dev.CoreV1().Namespaces().Update(ctx, ns, metav1.UpdateOptions{})
		must(t, err, "update an unprotected label")
	})

	t.Run("with the webhook stopped, kube-system still admits pods and tenants fail closed", func(t *testing.T) {
		wp.stop()
		sys := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "coredns-test"}, Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "c", Image: "registry.k8s.io/coredns/coredns:v1.12.0"}}}}
		_, err := c.client.CoreV1().Pods("kube-system").Create(ctx, sys, metav1.CreateOptions{})
		must(t, err, "create pod in kube-system with the webhook down")
		_, err = pods.Create(ctx, agentPod("while-down"), metav1.CreateOptions{})
		if err == nil {
			t.Fatal("pod admitted in a tenant namespace while the webhook is down; want failurePolicy Fail to refuse it")
		}
	})
}

func deployment(name string, p *corev1.Pod) *appsv1.Deployment {
	p.Labels["app"] = name
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{ObjectMeta: p.ObjectMeta, Spec: p.Spec},
		},
	}
}

// checkMutated requires the secure defaults of the default bundle.
func checkMutated(t *testing.T, meta *metav1.ObjectMeta, spec *corev1.PodSpec) {
	t.Helper()
	psc := spec.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
		t.Errorf("runAsNonRoot not set: %+v", psc)
	}
	if psc == nil || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("seccompProfile not RuntimeDefault: %+v", psc)
	}
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		t.Errorf("automountServiceAccountToken = %v, want false", spec.AutomountServiceAccountToken)
	}
	for _, c := range spec.Containers {
		csc := c.SecurityContext
		if csc == nil || csc.AllowPrivilegeEscalation == nil || *csc.AllowPrivilegeEscalation {
			t.Errorf("container %q: allowPrivilegeEscalation not false: %+v", c.Name, csc)
		}
		if csc == nil || csc.Capabilities == nil || !cmp.Equal(csc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
			t.Errorf("container %q: capabilities.drop not [ALL]: %+v", c.Name, csc)
		}
		for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			if _, ok := c.Resources.Requests[r]; !ok {
				t.Errorf("container %q: no %s request", c.Name, r)
			}
		}
		if _, ok := c.Resources.Limits[corev1.ResourceMemory]; !ok {
			t.Errorf("container %q: no memory limit", c.Name)
		}
	}
	if got := meta.Annotations[guardrails.AnnotationMutated]; !strings.Contains(got, "runAsNonRoot") || !strings.Contains(got, "automountServiceAccountToken") {
		t.Errorf("annotation %s = %q", guardrails.AnnotationMutated, got)
	}
}
