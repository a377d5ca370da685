package images

import "strings"

// Control IDs reported by this package.
const (
	// ControlSignature is reported when an image is unsigned, wrongly
	// signed, matched by no policy or not pinned by digest.
	ControlSignature = "AG-GEN-004"
	// ControlRegistry is reported when the image's registry cannot be
	// reached or refuses the request.
	ControlRegistry = "AG-GEN-003"
	// ControlProvenance is reported when an image lacks the provenance
	// metadata its policy requires.
	ControlProvenance = "AG-GEN-005"
)

// Outcome classifies a Verdict.
type Outcome string

// Outcomes.
const (
	// Verified: every matching policy is satisfied.
	Verified Outcome = "verified"
	// Unmatched: no policy matches the image; Policy.Unmatched applies.
	Unmatched Outcome = "unmatched"
	// Failed: a matching policy is not satisfied (unsigned, wrong signer,
	// signature for another image, bad reference, missing image).
	Failed Outcome = "failed"
	// RegistryError: the registry could not be asked and no cached verdict
	// was fresh; the policies' onRegistryError applies.
	RegistryError Outcome = "registry-error"
)

// Verdict is the outcome of checking one image reference.
type Verdict struct {
	// Image is the reference as written.
	Image string `json:"image"`
	// Repository is the normalized repository (registry/path).
	Repository string `json:"repository,omitempty"`
	// Digest is the manifest digest verified ("sha256:..."), when known.
	Digest string `json:"digest,omitempty"`
	// Pinned is Image rewritten to reference Digest ("repo@sha256:..."),
	// set when the image was verified and Image is not already pinned.
	Pinned string `json:"pinned,omitempty"`
	// ByDigest reports whether Image references a digest.
	ByDigest bool `json:"byDigest"`
	// Outcome classifies the verdict.
	Outcome Outcome `json:"outcome"`
	// Allowed is true when the image may be admitted without a warning.
	Allowed bool `json:"allowed"`
	// Enforced is true when a failure denies the object; false means the
	// failure is a warning. Meaningless when Allowed.
	Enforced bool `json:"enforced,omitempty"`
	// Mode is enforce when at least one matching policy is in enforce
	// mode, else warn; empty for unmatched images. Callers use it for
	// findings of their own about the image, such as a missing digest pin.
	Mode Mode `json:"mode,omitempty"`
	// Policies are the names of the matching policies.
	Policies []string `json:"policies,omitempty"`
	// Authorities name, per policy, the authority that satisfied it
	// ("policy/authority").
	Authorities []string `json:"authorities,omitempty"`
	// Reason says why the image failed (empty when Allowed).
	Reason string `json:"reason,omitempty"`
	// Fix says how to make it pass.
	Fix string `json:"fix,omitempty"`
	// MissingProvenance lists the provenance keys (AG-GEN-005) a matching
	// policy requires and the image lacks, whatever the signature outcome.
	MissingProvenance []string `json:"missingProvenance,omitempty"`
	// ProvenanceEnforced is true when a policy requiring a missing key is
	// in enforce mode.
	ProvenanceEnforced bool `json:"provenanceEnforced,omitempty"`
	// Cached is true when no registry round trip was made for the
	// signature check.
	Cached bool `json:"cached,omitempty"`
}

// ID is the control ID a failing verdict is reported under.
func (v *Verdict) ID() string {
	if v.Outcome == RegistryError {
		return ControlRegistry
	}
	return ControlSignature
}

// Message is the violation message without the control ID: the image, why
// it failed and how to fix it. The caller prefixes the container.
func (v *Verdict) Message() string {
	var b strings.Builder
	b.WriteString(v.Reason)
	if v.Fix != "" {
		b.WriteString("; fix: ")
		b.WriteString(v.Fix)
	}
	return b.String()
}
