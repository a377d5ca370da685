package webhook

import (
	"fmt"

	jsonv2 "github.com/go-json-experiment/json"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Extracted is the pod inside an object: the Pod itself or a controller's
// pod template.
type Extracted struct {
	// Kind is the object's kind.
	Kind string
	// Meta is the object's own metadata.
	Meta *metav1.ObjectMeta
	// PodMeta and PodSpec point into the decoded object; nil for objects
	// without a pod (Namespace).
	PodMeta *metav1.ObjectMeta
	PodSpec *corev1.PodSpec
	// Path is the JSON pointer of the pod (template) in the object: "" for a
	// Pod, "/spec/template" for Deployments and the like,
	// "/spec/jobTemplate/spec/template" for CronJobs. Patches to the pod
	// spec go under Path + "/spec".
	Path string
	// Labels are the object's protected labels: the pod (template) labels,
	// or a Namespace's own labels.
	Labels map[string]string
	// SecretType is the type of a Secret.
	SecretType string
}

// secretHeader is the part of a Secret the guardrails read; the data is
// not decoded.
type secretHeader struct {
	ObjectMeta metav1.ObjectMeta `json:"metadata"`
	Type       corev1.SecretType `json:"type"`
}

// podKind describes where a supported kind keeps its pod.
type podKind struct {
	path   string
	decode func([]byte) (*Extracted, error)
}

var podKinds = map[schema.GroupKind]podKind{
	{Group: "", Kind: "Pod"}: {"", func(b []byte) (*Extracted, error) {
		o := &corev1.Pod{}
		return fromPod(b, o, &o.ObjectMeta, &o.ObjectMeta, &o.Spec)
	}},
	{Group: "apps", Kind: "Deployment"}: {"/spec/template", func(b []byte) (*Extracted, error) {
		o := &appsv1.Deployment{}
		return fromPod(b, o, &o.ObjectMeta, &o.Spec.Template.ObjectMeta, &o.Spec.Template.Spec)
	}},
	{Group: "apps", Kind: "StatefulSet"}: {"/spec/template", func(b []byte) (*Extracted, error) {
		o := &appsv1.StatefulSet{}
		return fromPod(b, o, &o.ObjectMeta, &o.Spec.Template.ObjectMeta, &o.Spec.Template.Spec)
	}},
	{Group: "apps", Kind: "DaemonSet"}: {"/spec/template", func(b []byte) (*Extracted, error) {
		o := &appsv1.DaemonSet{}
		return fromPod(b, o, &o.ObjectMeta, &o.Spec.Template.ObjectMeta, &o.Spec.Template.Spec)
	}},
	{Group: "apps", Kind: "ReplicaSet"}: {"/spec/template", func(b []byte) (*Extracted, error) {
		o := &appsv1.ReplicaSet{}
		return fromPod(b, o, &o.ObjectMeta, &o.Spec.Template.ObjectMeta, &o.Spec.Template.Spec)
	}},
	{Group: "batch", Kind: "Job"}: {"/spec/template", func(b []byte) (*Extracted, error) {
		o := &batchv1.Job{}
		return fromPod(b, o, &o.ObjectMeta, &o.Spec.Template.ObjectMeta, &o.Spec.Template.Spec)
	}},
	{Group: "batch", Kind: "CronJob"}: {"/spec/jobTemplate/spec/template", func(b []byte) (*Extracted, error) {
		o := &batchv1.CronJob{}
		t := &o.Spec.JobTemplate.Spec.Template
		return fromPod(b, o, &o.ObjectMeta, &t.ObjectMeta, &t.Spec)
	}},
	{Group: "", Kind: "Secret"}: {"", func(b []byte) (*Extracted, error) {
		o := &secretHeader{}
		if err := jsonv2.Unmarshal(b, o); err != nil {
			return nil, err
		}
		return &Extracted{Meta: &o.ObjectMeta, SecretType: string(o.Type)}, nil
	}},
	{Group: "", Kind: "Namespace"}: {"", func(b []byte) (*Extracted, error) {
		o := &corev1.Namespace{}
		if err := jsonv2.Unmarshal(b, o); err != nil {
			return nil, err
		}
		return &Extracted{Meta: &o.ObjectMeta, Labels: o.Labels}, nil
	}},
}

func fromPod(b []byte, obj any, meta, podMeta *metav1.ObjectMeta, spec *corev1.PodSpec) (*Extracted, error) {
	if err := jsonv2.Unmarshal(b, obj); err != nil {
		return nil, err
	}
	return &Extracted{Meta: meta, PodMeta: podMeta, PodSpec: spec, Labels: podMeta.Labels}, nil
}

// Supported reports whether agentguard evaluates objects of this kind.
func Supported(gk schema.GroupKind) bool {
	_, ok := podKinds[gk]
	return ok
}

// Extract decodes raw (JSON) as an object of kind gk. It returns (nil, nil)
// for kinds agentguard does not evaluate; those are allowed untouched.
func Extract(gk schema.GroupKind, raw []byte) (*Extracted, error) {
	pk, ok := podKinds[gk]
	if !ok {
		return nil, nil
	}
	x, err := pk.decode(raw)
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", gk.Kind, err)
	}
	x.Kind = gk.Kind
	x.Path = pk.path
	return x, nil
}
