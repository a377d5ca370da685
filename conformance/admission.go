package conformance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Namespace keys of a probe.
const (
	nsTenant = "tenant"
	nsOther  = "other"
	nsPlain  = "plain"
)

// probe is one server-side dry-run create.
type probe struct {
	// step describes the probe in the evidence.
	step   string
	ns     string
	pod    *corev1.Pod
	dep    *appsv1.Deployment
	secret *corev1.Secret
	// deny is the control ID the refusal must carry; empty means the
	// object must be admitted, and verify (if set) inspects what the API
	// server returned, reporting problems.
	deny   string
	verify func(p *corev1.PodSpec, meta *metav1.ObjectMeta) []string
}

var dryRunAll = metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}

// runProbes dry-runs each probe in the suite namespaces.
func (s *session) runProbes(ctx context.Context, r *record, probes []probe) {
	if !s.needKube(r) {
		return
	}
	ns, err := s.namespaces(ctx)
	if err != nil {
		r.errorf("%v", err)
		return
	}
	for _, p := range probes {
		if ctx.Err() != nil {
			r.errorf("run cancelled: %v", ctx.Err())
			return
		}
		s.runProbe(ctx, r, ns, p)
	}
}

func (s *session) runProbe(ctx context.Context, r *record, ns *suiteNamespaces, p probe) {
	namespace := map[string]string{nsTenant: ns.tenant, nsOther: ns.other, nsPlain: ns.plain}[p.ns]
	var (
		body     []byte
		path     string
		err      error
		spec     *corev1.PodSpec
		meta     *metav1.ObjectMeta
		kindName string
	)
	switch {
	case p.pod != nil:
		p.pod.Namespace = namespace
		body, _ = json.MarshalIndent(p.pod, "", "  ")
		kindName = "Pod " + namespace + "/" + p.pod.Name
		path = fmt.Sprintf("POST /api/v1/namespaces/%s/pods?dryRun=All", namespace)
		var out *corev1.Pod
		out, err = s.kube.CoreV1().Pods(namespace).Create(ctx, p.pod, dryRunAll)
		if err == nil {
			spec, meta = &out.Spec, &out.ObjectMeta
		}
	case p.secret != nil:
		p.secret.Namespace = namespace
		body, _ = json.MarshalIndent(p.secret, "", "  ")
		kindName = "Secret " + namespace + "/" + p.secret.Name
		path = fmt.Sprintf("POST /api/v1/namespaces/%s/secrets?dryRun=All", namespace)
		_, err = s.kube.CoreV1().Secrets(namespace).Create(ctx, p.secret, dryRunAll)
		if err == nil && p.verify != nil {
			r.errorf("probe %q: a Secret probe cannot verify a pod spec", p.step)
			return
		}
		spec, meta = &corev1.PodSpec{}, &p.secret.ObjectMeta
	default:
		p.dep.Namespace = namespace
		body, _ = json.MarshalIndent(p.dep, "", "  ")
		kindName = "Deployment " + namespace + "/" + p.dep.Name
		path = fmt.Sprintf("POST /apis/apps/v1/namespaces/%s/deployments?dryRun=All", namespace)
		var out *appsv1.Deployment
		out, err = s.kube.AppsV1().Deployments(namespace).Create(ctx, p.dep, dryRunAll)
		if err == nil {
			spec, meta = &out.Spec.Template.Spec, &out.Spec.Template.ObjectMeta
		}
	}
	req := path + "\n" + string(body)
	var status apierrors.APIStatus
	if err != nil && !errors.As(err, &status) {
		r.errorf("dry-run create of %s failed without an answer from the API server: %v", kindName, err)
		r.info(p.step, req, err.Error())
		return
	}
	switch {
	case p.deny != "" && err == nil:
		r.finding(p.step+": admitted, want a refusal with ["+p.deny+"]", req, "admitted (dry run)")
	case p.deny != "" && strings.Contains(err.Error(), "["+p.deny+"]"):
		r.ok(p.step+": refused with ["+p.deny+"]", req, err.Error())
	case p.deny != "":
		r.finding(p.step+": refused, but not with ["+p.deny+"] (a refusal for another reason does not count)", req, err.Error())
	case err != nil:
		r.finding(p.step+": the compliant object was refused", req, err.Error())
	default:
		var problems []string
		if p.verify != nil {
			problems = p.verify(spec, meta)
		}
		resp := "admitted (dry run)" + returnedSummary(spec, meta)
		if len(problems) > 0 {
			r.finding(p.step+": admitted, but "+strings.Join(problems, "; "), req, resp)
		} else {
			r.ok(p.step+": admitted", req, resp)
		}
	}
}

// returnedSummary shows the security-relevant fields the API server
// returned, after the mutating webhooks.
func returnedSummary(spec *corev1.PodSpec, meta *metav1.ObjectMeta) string {
	view := map[string]any{"annotations": meta.Annotations, "securityContext": spec.SecurityContext,
		"automountServiceAccountToken": spec.AutomountServiceAccountToken}
	var cs []map[string]any
	for _, c := range spec.Containers {
		cs = append(cs, map[string]any{"name": c.Name, "image": c.Image, "securityContext": c.SecurityContext, "resources": c.Resources})
	}
	view["containers"] = cs
	b, _ := json.Marshal(view)
	return "\nreturned: " + string(b)
}

// compliantPod is an agent pod every guardrail admits as written.
func (s *session) compliantPod(name string, mods ...func(*corev1.Pod)) *corev1.Pod {
	a := s.profile.Admission
	f, t, uid := false, true, int64(10001)
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{s.profile.AgentLabel: a.Agent, RunLabel: s.nonce}},
		Spec: corev1.PodSpec{
			ServiceAccountName:           a.ServiceAccount,
			AutomountServiceAccountToken: &f,
			SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: &t, RunAsUser: &uid,
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
			Containers: []corev1.Container{{
				Name: "agent", Image: a.Image,
				Env: []corev1.EnvVar{{Name: "MODEL_API_KEY", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
					LocalObjectReference: corev1.LocalObjectReference{Name: a.AllowedSecret.Name}, Key: a.AllowedSecret.Key}}}},
				SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: &f, ReadOnlyRootFilesystem: &t,
					Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}},
				Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
					Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("256Mi")},
				},
			}},
		},
	}
	for _, m := range mods {
		m(p)
	}
	return p
}

// minimalPod is an agent pod that leaves every security setting unset, for
// the mutating webhook to fill in.
func (s *session) minimalPod(name string) *corev1.Pod {
	a := s.profile.Admission
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{s.profile.AgentLabel: a.Agent, RunLabel: s.nonce}},
		Spec: corev1.PodSpec{
			ServiceAccountName: a.ServiceAccount,
			Containers:         []corev1.Container{{Name: "agent", Image: a.Image}},
		},
	}
}

// deploymentOf wraps a pod as a Deployment's template.
func deploymentOf(p *corev1.Pod) *appsv1.Deployment {
	one := int32(1)
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: p.Name, Labels: p.Labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: &one,
			Selector: &metav1.LabelSelector{MatchLabels: p.Labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: p.Labels}, Spec: p.Spec},
		},
	}
}

func csc(p *corev1.Pod) *corev1.SecurityContext { return p.Spec.Containers[0].SecurityContext }

func ptrTo[T any](v T) *T { return &v }
