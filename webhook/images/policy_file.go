package images

// PolicyFile locates the image policy inside a bundle.
const PolicyFile = "admission/images.yaml"

// PolicyAPIVersion and PolicyKind identify admission/images.yaml.
const (
	PolicyAPIVersion = "agentguard.io/v1alpha1"
	PolicyKind       = "ImagePolicy"
)

// File is admission/images.yaml as written. See docs/images.md.
type File struct {
	// APIVersion must be agentguard.io/v1alpha1 (default).
	APIVersion string `json:"apiVersion,omitempty"`
	// Kind must be ImagePolicy (default).
	Kind string `json:"kind,omitempty"`
	// Unmatched says what happens to an image that no policy matches:
	// "deny" (default), "warn" or "allow".
	Unmatched Action `json:"unmatched,omitempty"`
	// TrustedRoot is the Sigstore trusted root (trusted_root.json) for
	// keyless authorities, a path relative to admission/. Required when any
	// authority is keyless.
	TrustedRoot string `json:"trustedRoot,omitempty"`
	// Policies are the image policies. Every policy that matches an image
	// must be satisfied; within a policy, any one authority satisfies it.
	Policies []PolicySpec `json:"policies"`
}

// PolicySpec is one image policy.
type PolicySpec struct {
	// Name identifies the policy in messages and metrics. Required, unique.
	Name string `json:"name"`
	// Images are glob patterns over the image's repository
	// (registry/path, without tag or digest; Docker Hub images are
	// docker.io/library/name or docker.io/org/name): "*" matches within a
	// path segment, "**" across segments. Required.
	Images []string `json:"images"`
	// Authorities that may sign the images; any one satisfies the policy.
	// Required.
	Authorities []AuthoritySpec `json:"authorities"`
	// Mode is "enforce" (default: an unverified image is denied) or "warn"
	// (admitted with a warning).
	Mode Mode `json:"mode,omitempty"`
	// OnRegistryError decides when the registry cannot be reached and no
	// cached verdict is fresh: "deny" (default) or "warn" (admit with a
	// warning; the image stays as written).
	OnRegistryError Action `json:"onRegistryError,omitempty"`
	// Provenance, when set, requires provenance metadata on the images
	// (AG-GEN-005). Default: not checked.
	Provenance *ProvenanceSpec `json:"provenance,omitempty"`
}

// ProvenanceSpec requires OCI annotations (on the manifest or index) or
// image config labels on the images of a policy (AG-GEN-005).
type ProvenanceSpec struct {
	// Required are the annotation or label keys that must be present and
	// non-empty. Default org.opencontainers.image.source, .version,
	// .revision and .authors.
	Required []string `json:"required,omitempty"`
	// Mode is "enforce" (deny images that lack one) or "warn" (default).
	Mode Mode `json:"mode,omitempty"`
}

// DefaultProvenance are the keys AG-GEN-005 requires by default.
var DefaultProvenance = []string{
	"org.opencontainers.image.source",
	"org.opencontainers.image.version",
	"org.opencontainers.image.revision",
	"org.opencontainers.image.authors",
}

// AuthoritySpec is one trusted signer: exactly one of Key and Keyless.
type AuthoritySpec struct {
	// Name identifies the authority in messages. Default "authority-<n>".
	Name string `json:"name,omitempty"`
	// Key is a public key.
	Key *KeySpec `json:"key,omitempty"`
	// Keyless is a Sigstore keyless identity (Fulcio certificate).
	Keyless *KeylessSpec `json:"keyless,omitempty"`
}

// KeySpec is a public key: exactly one of PEM, File and SecretRef.
type KeySpec struct {
	// PEM is the PEM-encoded public key (ECDSA, Ed25519 or RSA), inline.
	PEM string `json:"pem,omitempty"`
	// File is a PEM file in the bundle, relative to admission/.
	File string `json:"file,omitempty"`
	// SecretRef is a Kubernetes Secret holding the PEM public key, read at
	// verification time (and cached briefly).
	SecretRef *SecretRef `json:"secretRef,omitempty"`
}

// SecretRef names a key in a Kubernetes Secret.
type SecretRef struct {
	// Namespace of the Secret. Required.
	Namespace string `json:"namespace"`
	// Name of the Secret. Required.
	Name string `json:"name"`
	// Key in the Secret's data. Default "cosign.pub".
	Key string `json:"key,omitempty"`
}

// KeylessSpec matches a Fulcio certificate's identity. One of Subject and
// SubjectRegExp, and one of Issuer and IssuerRegExp, are required.
type KeylessSpec struct {
	// Subject is the exact certificate identity (SAN: an e-mail address or
	// a URI such as a GitHub workflow ref).
	Subject string `json:"subject,omitempty"`
	// SubjectRegExp is a regular expression (RE2, anchor it yourself) over
	// the certificate identity.
	SubjectRegExp string `json:"subjectRegExp,omitempty"`
	// Issuer is the exact OIDC issuer.
	Issuer string `json:"issuer,omitempty"`
	// IssuerRegExp is a regular expression over the OIDC issuer.
	IssuerRegExp string `json:"issuerRegExp,omitempty"`
}

// Mode is how a policy's failures are enforced.
type Mode string

// Modes.
const (
	ModeEnforce Mode = "enforce"
	ModeWarn    Mode = "warn"
)

// Action is what happens to an unmatched image or on a registry error.
type Action string

// Actions.
const (
	ActionDeny  Action = "deny"
	ActionWarn  Action = "warn"
	ActionAllow Action = "allow"
)
