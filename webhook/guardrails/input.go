package guardrails

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Input is one object to evaluate: a pod (or a pod controller's template) or
// a Namespace.
type Input struct {
	// Operation is CREATE, UPDATE, DELETE or CONNECT.
	Operation string
	// Kind is the object's kind (Pod, Deployment, ..., Namespace).
	Kind string
	// Namespace and Name identify the object.
	Namespace string
	Name      string
	// NamespaceLabels are the labels of the object's namespace.
	NamespaceLabels map[string]string

	// PodMeta and PodSpec are the pod's (or the template's) metadata and
	// spec; nil for objects that carry no pod.
	PodMeta *metav1.ObjectMeta
	PodSpec *corev1.PodSpec
	// Labels are the labels the guardrails protect: the pod template's
	// labels, or for a Namespace its own labels.
	Labels map[string]string
	// OldLabels are those labels before an UPDATE; nil on CREATE.
	OldLabels map[string]string
	// OldExists is true when the request had an old object (UPDATE).
	OldExists bool
	// SpecUnchanged marks an UPDATE that leaves the pod spec as it was
	// (labels, annotations, replicas, finalizers...): only the label
	// protection applies, so existing workloads can still be scaled and
	// relabelled by their controllers, as Pod Security Admission does.
	SpecUnchanged bool

	// SecretType is the type of a Secret object.
	SecretType string

	// User is the requesting user; nil for offline evaluation
	// (`agentguard admit`), which skips the label-protection check.
	User *User

	// ObjectJSON is the whole object as JSON, given to custom Rego rules as
	// input.object (only the parts the rules refer to are converted).
	// Optional; Object, then PodMeta and PodSpec are used when nil.
	ObjectJSON []byte
	// Object is the whole object as decoded JSON (map[string]any) or an
	// OPA AST value, used when ObjectJSON is nil.
	Object any
	// PodPath is the JSON pointer of the pod (template) inside Object (""
	// for a Pod, "/spec/template" for a Deployment, ...); custom Rego rules
	// see that part as input.pod.
	PodPath string
}

// User is the identity behind an admission request.
type User struct {
	Username string
	Groups   []string
}

// IsSecret reports whether the input is a Secret object.
func (in *Input) IsSecret() bool { return in.Kind == "Secret" }

// IsNamespace reports whether the input is a Namespace object.
func (in *Input) IsNamespace() bool { return in.Kind == "Namespace" }
