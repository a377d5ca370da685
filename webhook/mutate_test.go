package webhook

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/agentguard/agentguard/webhook/guardrails"
)

// minimalPodSpec is an agent pod spec with nothing but what the defaults
// cannot supply.
func minimalPodSpec() map[string]any {
	return map[string]any{
		"serviceAccountName": "research-bot",
		"containers": []any{map[string]any{
			"name": "app", "image": "registry.corp.example/agents/research-bot:1.4.2",
		}},
	}
}

var agentLabels = map[string]any{guardrails.LabelAgent: "research-bot", "app": "rb"}

func withTemplate(kind, apiVersion string, template map[string]any) map[string]any {
	obj := map[string]any{"apiVersion": apiVersion, "kind": kind, "metadata": map[string]any{"name": "x", "namespace": "team-a"}}
	switch kind {
	case "Pod":
		for k, v := range template {
			if k == "metadata" {
				md := obj["metadata"].(map[string]any)
				for mk, mv := range v.(map[string]any) {
					md[mk] = mv
				}
				continue
			}
			obj[k] = v
		}
	case "CronJob":
		obj["spec"] = map[string]any{"schedule": "* * * * *", "jobTemplate": map[string]any{"spec": map[string]any{"template": template}}}
	default:
		obj["spec"] = map[string]any{"selector": map[string]any{"matchLabels": map[string]any{"app": "rb"}}, "template": template}
	}
	return obj
}

// TestMutateEveryKind mutates a minimal agent pod in every supported
// kind, applies the patch, requires the result to pass validation and a
// second mutation to be a no-op (idempotent under reinvocation).
func TestMutateEveryKind(t *testing.T) {
	e := defaultEngine(t)
	rv := &Reviewer{Namespaces: testNamespaces}
	kinds := []struct {
		group, apiVersion, kind string
		templatePath            string
	}{
		{"", "v1", "Pod", ""},
		{"apps", "apps/v1", "Deployment", "/spec/template"},
		{"apps", "apps/v1", "StatefulSet", "/spec/template"},
		{"apps", "apps/v1", "DaemonSet", "/spec/template"},
		{"apps", "apps/v1", "ReplicaSet", "/spec/template"},
		{"batch", "batch/v1", "Job", "/spec/template"},
		{"batch", "batch/v1", "CronJob", "/spec/jobTemplate/spec/template"},
	}
	for _, k := range kinds {
		for _, withMeta := range []bool{true, false} {
			if !withMeta && k.kind == "Pod" {
				continue
			}
			name := k.kind
			if !withMeta {
				name += "/template without metadata in a tenant namespace"
			}
			t.Run(name, func(t *testing.T) {
				tmpl := map[string]any{"spec": minimalPodSpec()}
				if withMeta {
					tmpl["metadata"] = map[string]any{"labels": agentLabels}
				} else {
					// Not labelled as research-bot, so it needs its own account.
					tmpl["spec"].(map[string]any)["serviceAccountName"] = "unlabelled-sa"
				}
				obj, err := json.Marshal(withTemplate(k.kind, k.apiVersion, tmpl))
				if err != nil {
					t.Fatal(err)
				}
				req := &Request{Kind: schema.GroupKind{Group: k.group, Kind: k.kind}, Operation: "CREATE", Namespace: "team-a", Object: obj}
				res, err := rv.Mutate(context.Background(), e, req)
				if err != nil {
					t.Fatal(err)
				}
				if len(res.Mutation.Patch) == 0 {
					t.Fatal("no patch")
				}
				for _, op := range res.Mutation.Patch {
					if !strings.HasPrefix(op.Path, k.templatePath+"/") {
						t.Errorf("op %s %s outside the pod template %q", op.Op, op.Path, k.templatePath)
					}
				}
				wantChanges := []string{"allowPrivilegeEscalation", "automountServiceAccountToken", "capabilities", "resources", "runAsNonRoot", "seccompProfile"}
				if diff := cmp.Diff(wantChanges, res.Mutation.Changes); diff != "" {
					t.Errorf("changes (-want +got):\n%s", diff)
				}
				patched, err := ApplyPatch(obj, res.Mutation.Patch)
				if err != nil {
					t.Fatalf("patch does not apply: %v\n%s", err, mustJSON(t, res.Mutation.Patch))
				}
				req2 := *req
				req2.Object = patched
				vres, err := rv.Validate(context.Background(), e, &req2)
				if err != nil {
					t.Fatal(err)
				}
				for _, v := range vres.Decision.Denials() {
					// Without labels the template names no agent, which the
					// default bundle's registry (AG-SEC-012) refuses; nothing
					// the mutation could have fixed may remain.
					if withMeta || v.ID != "AG-SEC-012" {
						t.Errorf("mutated object denied: %s", v.Message)
					}
				}
				again, err := rv.Mutate(context.Background(), e, &req2)
				if err != nil {
					t.Fatal(err)
				}
				if len(again.Mutation.Patch) != 0 {
					t.Errorf("second mutation not a no-op: %s", mustJSON(t, again.Mutation.Patch))
				}
				x, err := Extract(req.Kind, patched)
				if err != nil {
					t.Fatal(err)
				}
				if got := x.PodMeta.Annotations[guardrails.AnnotationMutated]; got != strings.Join(wantChanges, ",") {
					t.Errorf("annotation = %q", got)
				}
				// Pods carry the admission stamp; templates do not (a stamp
				// there would roll out workloads on every bundle revision).
				wantStamp := ""
				if k.kind == "Pod" {
					wantStamp = e.Revision()
				}
				if got := x.PodMeta.Annotations[guardrails.AnnotationAdmitted]; got != wantStamp || (k.kind == "Pod" && got == "") {
					t.Errorf("%s = %q, want %q", guardrails.AnnotationAdmitted, got, wantStamp)
				}
			})
		}
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestMutateNeverWeakens: explicit settings stay as written, including
// insecure ones (which validation then denies).
func TestMutateNeverWeakens(t *testing.T) {
	e := defaultEngine(t)
	no, yes := false, true
	tests := []struct {
		name  string
		spec  corev1.PodSpec
		check func(t *testing.T, got *corev1.PodSpec)
		deny  string
	}{
		{
			name: "runAsNonRoot false and automount true stay",
			spec: corev1.PodSpec{
				ServiceAccountName: "research-bot", AutomountServiceAccountToken: &yes,
				SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: &no},
				Containers:      []corev1.Container{{Name: "app", Image: "registry.corp.example/a:1"}},
			},
			check: func(t *testing.T, got *corev1.PodSpec) {
				if *got.SecurityContext.RunAsNonRoot || !*got.AutomountServiceAccountToken {
					t.Errorf("explicit values changed: %+v automount=%v", got.SecurityContext, *got.AutomountServiceAccountToken)
				}
				if got.SecurityContext.SeccompProfile == nil {
					t.Error("unset seccompProfile not defaulted next to an explicit runAsNonRoot")
				}
			},
			deny: "[AG-GEN-002]",
		},
		{
			name: "privileged container gets no allowPrivilegeEscalation",
			spec: corev1.PodSpec{
				ServiceAccountName: "research-bot",
				Containers: []corev1.Container{{Name: "app", Image: "registry.corp.example/a:1",
					SecurityContext: &corev1.SecurityContext{Privileged: &yes}}},
			},
			check: func(t *testing.T, got *corev1.PodSpec) {
				if got.Containers[0].SecurityContext.AllowPrivilegeEscalation != nil {
					t.Error("allowPrivilegeEscalation set next to privileged (the API server would reject the pod)")
				}
			},
			deny: "[AG-GEN-001] container \"app\" is privileged",
		},
		{
			name: "explicit resources kept; missing request follows a smaller limit",
			spec: corev1.PodSpec{
				ServiceAccountName: "research-bot",
				Containers: []corev1.Container{{Name: "app", Image: "registry.corp.example/a:1",
					Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: mustQ("64Mi")}}}},
			},
			check: func(t *testing.T, got *corev1.PodSpec) {
				r := got.Containers[0].Resources
				if q := r.Limits[corev1.ResourceMemory]; q.String() != "64Mi" {
					t.Errorf("memory limit %s", q.String())
				}
				if q := r.Requests[corev1.ResourceMemory]; q.String() != "64Mi" {
					t.Errorf("memory request %s, want the limit 64Mi", q.String())
				}
			},
		},
		{
			name: "legacy token volume removed with its mounts",
			spec: corev1.PodSpec{
				ServiceAccountName: "research-bot",
				Volumes: []corev1.Volume{
					{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
					{Name: "kube-api-access-abcde", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
						Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: ptr(int64(3607))}}}}}},
				},
				Containers: []corev1.Container{{Name: "app", Image: "registry.corp.example/a:1", VolumeMounts: []corev1.VolumeMount{
					{Name: "data", MountPath: "/data"}, {Name: "kube-api-access-abcde", MountPath: "/var/run/secrets/kubernetes.io/serviceaccount"},
				}}},
			},
			check: func(t *testing.T, got *corev1.PodSpec) {
				if len(got.Volumes) != 1 || got.Volumes[0].Name != "data" {
					t.Errorf("volumes = %+v", got.Volumes)
				}
				if m := got.Containers[0].VolumeMounts; len(m) != 1 || m[0].Name != "data" {
					t.Errorf("mounts = %+v", m)
				}
			},
		},
		{
			name: "windows pod gets runAsNonRoot but no Linux-only fields",
			spec: corev1.PodSpec{
				ServiceAccountName: "research-bot", OS: &corev1.PodOS{Name: corev1.Windows},
				Containers: []corev1.Container{{Name: "app", Image: "registry.corp.example/a:1"}},
			},
			check: func(t *testing.T, got *corev1.PodSpec) {
				if got.SecurityContext == nil || got.SecurityContext.RunAsNonRoot == nil || !*got.SecurityContext.RunAsNonRoot {
					t.Errorf("runAsNonRoot not defaulted: %+v", got.SecurityContext)
				}
				if got.SecurityContext.SeccompProfile != nil || got.Containers[0].SecurityContext != nil {
					t.Errorf("Linux-only fields on a Windows pod: %+v %+v", got.SecurityContext, got.Containers[0].SecurityContext)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := &corev1.Pod{Spec: tt.spec}
			pod.APIVersion, pod.Kind, pod.Name, pod.Namespace = "v1", "Pod", "p", "team-a"
			pod.Labels = map[string]string{guardrails.LabelAgent: "research-bot"}
			obj, err := json.Marshal(pod)
			if err != nil {
				t.Fatal(err)
			}
			rv := &Reviewer{Namespaces: testNamespaces}
			res, err := rv.Admit(context.Background(), e, &Request{Kind: schema.GroupKind{Kind: "Pod"}, Operation: "CREATE", Namespace: "team-a", Object: obj}, true)
			if err != nil {
				t.Fatal(err)
			}
			patched, err := ApplyPatch(obj, res.Mutation.Patch)
			if err != nil {
				t.Fatal(err)
			}
			got := &corev1.Pod{}
			if err := json.Unmarshal(patched, got); err != nil {
				t.Fatal(err)
			}
			tt.check(t, &got.Spec)
			if tt.deny == "" && !res.Allowed() {
				t.Errorf("denied: %s", res.Decision.Reason())
			}
			if tt.deny != "" && (res.Allowed() || !strings.Contains(res.Decision.Reason(), tt.deny)) {
				t.Errorf("want a denial with %s, got allowed=%v %s", tt.deny, res.Allowed(), res.Decision.Reason())
			}
		})
	}
}

func TestMutateSkips(t *testing.T) {
	e := defaultEngine(t)
	rv := &Reviewer{Namespaces: testNamespaces}
	pod := map[string]any{"apiVersion": "v1", "kind": "Pod", "metadata": map[string]any{"name": "p", "labels": agentLabels}, "spec": minimalPodSpec()}
	obj, _ := json.Marshal(pod)
	tests := []struct {
		name string
		req  Request
	}{
		{"pod update (spec immutable)", Request{Kind: schema.GroupKind{Kind: "Pod"}, Operation: "UPDATE", Namespace: "team-a", Object: obj, OldObject: obj}},
		{"subresource", Request{Kind: schema.GroupKind{Kind: "Pod"}, Operation: "UPDATE", SubResource: "ephemeralcontainers", Namespace: "team-a", Object: obj, OldObject: obj}},
		{"exempt namespace", Request{Kind: schema.GroupKind{Kind: "Pod"}, Operation: "CREATE", Namespace: "kube-system", Object: obj}},
		{"non-agent pod", Request{Kind: schema.GroupKind{Kind: "Pod"}, Operation: "CREATE", Namespace: "plain", Object: []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"nginx"}]}}`)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := rv.Mutate(context.Background(), e, &tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Mutation.Patch) != 0 {
				t.Errorf("patched: %s", mustJSON(t, res.Mutation.Patch))
			}
		})
	}
}

func TestMutatePlacement(t *testing.T) {
	cfg := guardrails.DefaultConfig()
	cfg.Tenants = map[string]guardrails.Tenant{"team-a": {
		NodeSelector:     map[string]string{"pool": "team-a"},
		Tolerations:      []corev1.Toleration{{Key: "tenant", Operator: corev1.TolerationOpEqual, Value: "team-a", Effect: corev1.TaintEffectNoSchedule}},
		RuntimeClassName: "gvisor",
	}}
	e, err := guardrails.New(context.Background(), guardrails.Options{Config: cfg, Revision: "r1"})
	if err != nil {
		t.Fatal(err)
	}
	rv := &Reviewer{Namespaces: testNamespaces}
	pod := func(spec map[string]any) []byte {
		b, _ := json.Marshal(map[string]any{"apiVersion": "v1", "kind": "Pod", "metadata": map[string]any{"name": "p", "labels": agentLabels}, "spec": spec})
		return b
	}
	t.Run("defaults added, then idempotent", func(t *testing.T) {
		spec := minimalPodSpec()
		spec["tolerations"] = []any{map[string]any{"key": "gpu", "operator": "Exists"}}
		req := &Request{Kind: schema.GroupKind{Kind: "Pod"}, Operation: "CREATE", Namespace: "team-a", Object: pod(spec)}
		res, err := rv.Admit(context.Background(), e, req, true)
		if err != nil {
			t.Fatal(err)
		}
		if !res.Allowed() {
			t.Fatalf("denied: %s", res.Decision.Reason())
		}
		patched, err := ApplyPatch(req.Object, res.Mutation.Patch)
		if err != nil {
			t.Fatal(err)
		}
		got := &corev1.Pod{}
		if err := json.Unmarshal(patched, got); err != nil {
			t.Fatal(err)
		}
		if got.Spec.NodeSelector["pool"] != "team-a" || len(got.Spec.Tolerations) != 2 || got.Spec.RuntimeClassName == nil || *got.Spec.RuntimeClassName != "gvisor" {
			t.Errorf("placement not applied: %+v %+v %v", got.Spec.NodeSelector, got.Spec.Tolerations, got.Spec.RuntimeClassName)
		}
		req2 := *req
		req2.Object = patched
		again, err := rv.Mutate(context.Background(), e, &req2)
		if err != nil || len(again.Mutation.Patch) != 0 {
			t.Errorf("second mutation: %v %s", err, mustJSON(t, again.Mutation.Patch))
		}
	})
	t.Run("explicit other pool kept and denied", func(t *testing.T) {
		spec := minimalPodSpec()
		spec["nodeSelector"] = map[string]any{"pool": "team-b"}
		spec["runtimeClassName"] = "runc"
		res, err := rv.Admit(context.Background(), e, &Request{Kind: schema.GroupKind{Kind: "Pod"}, Operation: "CREATE", Namespace: "team-a", Object: pod(spec)}, true)
		if err != nil {
			t.Fatal(err)
		}
		reason := res.Decision.Reason()
		if res.Allowed() || !strings.Contains(reason, "[AG-SEC-107]") || !strings.Contains(reason, "[AG-SEC-109]") {
			t.Errorf("allowed=%v %s", res.Allowed(), reason)
		}
	})
}
