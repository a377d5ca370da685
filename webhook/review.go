package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	jsonpatch "github.com/evanphx/json-patch/v5"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/agentguard/agentguard/webhook/guardrails"
	"github.com/agentguard/agentguard/webhook/images"
)

// NamespaceLabeler returns the labels of a namespace.
type NamespaceLabeler interface {
	NamespaceLabels(ctx context.Context, name string) (map[string]string, error)
}

// NamespaceLabelerFunc adapts a function to NamespaceLabeler.
type NamespaceLabelerFunc func(ctx context.Context, name string) (map[string]string, error)

// NamespaceLabels calls f.
func (f NamespaceLabelerFunc) NamespaceLabels(ctx context.Context, name string) (map[string]string, error) {
	return f(ctx, name)
}

var _ NamespaceLabeler = NamespaceLabelerFunc(nil)

// Request is one object to review: the parts of an AdmissionRequest the
// guardrails use, or one document given to `agentguard admit`.
type Request struct {
	Kind        schema.GroupKind
	Operation   string
	SubResource string
	Namespace   string
	Name        string
	Object      []byte
	OldObject   []byte
	// User is the requesting user; nil for offline evaluation.
	User *guardrails.User
	// NamespaceLabels, when non-nil, are the namespace's labels; otherwise
	// they are looked up with the NamespaceLabeler.
	NamespaceLabels map[string]string
}

// Result is the outcome of reviewing one object.
type Result struct {
	// Supported is false for kinds agentguard does not evaluate (allowed
	// untouched).
	Supported bool
	// Name is the object's name (metadata.name, else generateName).
	Name string
	// Decision is the validation outcome (nil when only mutating).
	Decision *guardrails.Decision
	// Mutation holds the secure defaults applied (empty when validating
	// only).
	Mutation Mutation
}

// Allowed reports whether the object is admitted.
func (r *Result) Allowed() bool { return r.Decision == nil || r.Decision.Allowed }

// ErrBadObject is returned (wrapped) when the object cannot be decoded.
var ErrBadObject = errors.New("bad object")

// ErrNamespaceLookup is returned (wrapped) when the namespace's labels
// cannot be read; the webhook then fails closed.
var ErrNamespaceLookup = errors.New("namespace lookup failed")

// Reviewer runs the shared admission path: extract the pod (template),
// mutate, validate. The webhook handlers and `agentguard admit` both use it.
type Reviewer struct {
	// Namespaces looks up namespace labels. Nil means no labels.
	Namespaces NamespaceLabeler
	// Offline applies the API server's defaulting that matters to the
	// guardrails (guardrails.DefaultPodSpec) to objects that never went
	// through an API server, such as manifests given to `agentguard admit`.
	Offline bool
	// Images verifies image signatures against the bundle's image policy
	// (admission/images.yaml): Mutate pins verified tags to their digest,
	// Validate verifies what is finally admitted. Nil skips image
	// verification (offline evaluation, which has no registry access); the
	// webhook Server always sets one.
	Images *images.Verifier
}

// Validate evaluates the object as written.
func (rv *Reviewer) Validate(ctx context.Context, e *guardrails.Engine, req *Request) (*Result, error) {
	res, st, err := rv.prepare(ctx, e, req)
	if err != nil || st == nil {
		return res, err
	}
	res.Decision = e.Evaluate(ctx, st.in)
	if res.Decision.Exempt == "" {
		rv.checkImages(ctx, e, st.in, res.Decision)
	}
	return res, nil
}

// Mutate computes the secure-defaults patch for the object.
func (rv *Reviewer) Mutate(ctx context.Context, e *guardrails.Engine, req *Request) (*Result, error) {
	res, st, err := rv.prepare(ctx, e, req)
	if err != nil || st == nil {
		return res, err
	}
	if mutable(req) {
		res.Mutation = Mutate(e, st.in, st.x)
		rv.pinImages(ctx, e, st.in, st.x, &res.Mutation)
	}
	return res, nil
}

// Admit mutates (unless mutate is false), applies the patch, and validates
// the result, as the API server does with a mutating and a validating
// webhook in a row.
func (rv *Reviewer) Admit(ctx context.Context, e *guardrails.Engine, req *Request, mutate bool) (*Result, error) {
	if !mutate {
		return rv.Validate(ctx, e, req)
	}
	res, err := rv.Mutate(ctx, e, req)
	if err != nil || !res.Supported {
		return res, err
	}
	r2 := *req
	if len(res.Mutation.Patch) > 0 {
		if r2.Object, err = ApplyPatch(req.Object, res.Mutation.Patch); err != nil {
			return nil, fmt.Errorf("apply mutation: %w", err)
		}
	}
	vres, err := rv.Validate(ctx, e, &r2)
	if err != nil {
		return nil, err
	}
	vres.Mutation = res.Mutation
	return vres, nil
}

// ApplyPatch applies a JSON Patch to a JSON document.
func ApplyPatch(doc []byte, ops []PatchOp) ([]byte, error) {
	raw, err := json.Marshal(ops)
	if err != nil {
		return nil, err
	}
	p, err := jsonpatch.DecodePatch(raw)
	if err != nil {
		return nil, err
	}
	return p.Apply(doc)
}

// mutable reports whether the API server would accept a patch for this
// request: pods only on creation (their spec is immutable afterwards, and
// subresource updates only change their own field), controllers on create
// and update.
func mutable(req *Request) bool {
	if req.SubResource != "" {
		return false
	}
	switch req.Operation {
	case "CREATE":
		return true
	case "UPDATE":
		return req.Kind != schema.GroupKind{Kind: "Pod"} && req.Kind != schema.GroupKind{Kind: "Namespace"}
	}
	return false
}

type prepared struct {
	in *guardrails.Input
	x  *Extracted
}

// prepare decodes the object and builds the guardrails input. A nil
// prepared with a nil error means "allow untouched".
func (rv *Reviewer) prepare(ctx context.Context, e *guardrails.Engine, req *Request) (*Result, *prepared, error) {
	res := &Result{}
	if req.Operation == "DELETE" || req.Operation == "CONNECT" || !Supported(req.Kind) {
		return res, nil, nil
	}
	res.Supported = true
	if len(req.Object) == 0 {
		return nil, nil, fmt.Errorf("%w: %s %s has no object", ErrBadObject, req.Operation, req.Kind.Kind)
	}
	x, err := Extract(req.Kind, req.Object)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrBadObject, err)
	}
	if rv.Offline && x.PodSpec != nil {
		guardrails.DefaultPodSpec(x.PodSpec)
	}
	res.Name = x.Meta.Name
	if res.Name == "" {
		res.Name = x.Meta.GenerateName
	}
	in := &guardrails.Input{
		Operation:  req.Operation,
		Kind:       x.Kind,
		Namespace:  req.Namespace,
		Name:       res.Name,
		PodMeta:    x.PodMeta,
		PodSpec:    x.PodSpec,
		Labels:     x.Labels,
		SecretType: x.SecretType,
		User:       req.User,
	}
	if in.Namespace == "" {
		in.Namespace = x.Meta.Namespace
	}
	if len(req.OldObject) > 0 {
		old, err := Extract(req.Kind, req.OldObject)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: old object: %w", ErrBadObject, err)
		}
		in.OldExists = true
		in.OldLabels = old.Labels
		in.SpecUnchanged = x.PodSpec != nil && old.PodSpec != nil && apiequality.Semantic.DeepEqual(x.PodSpec, old.PodSpec)
	}
	switch {
	case x.Kind == "Namespace":
		in.NamespaceLabels = x.Labels
	case req.NamespaceLabels != nil:
		in.NamespaceLabels = req.NamespaceLabels
	case rv.Namespaces != nil && in.Namespace != "" && e.Exempt(in) == "":
		labels, err := rv.Namespaces.NamespaceLabels(ctx, in.Namespace)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: namespace %q: %w", ErrNamespaceLookup, in.Namespace, err)
		}
		in.NamespaceLabels = labels
	}
	if e.HasRules() {
		in.ObjectJSON = req.Object
		in.PodPath = x.Path
	}
	return res, &prepared{in: in, x: x}, nil
}
