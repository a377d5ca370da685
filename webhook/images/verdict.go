package images

import (
	"fmt"
	"strings"
)

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
func (vd *Verdict) ID() string {
	if vd.Outcome == RegistryError {
		return ControlRegistry
	}
	return ControlSignature
}

// Message is the violation message without the control ID: the image, why
// it failed and how to fix it. The caller prefixes the container.
func (vd *Verdict) Message() string {
	var b strings.Builder
	b.WriteString(vd.Reason)
	if vd.Fix != "" {
		b.WriteString("; fix: ")
		b.WriteString(vd.Fix)
	}
	return b.String()
}

func (vd *Verdict) fail(enforced bool, reason, fix string) *Verdict {
	if vd.Outcome == Verified {
		vd.Outcome = Failed
	}
	vd.Allowed = false
	vd.Enforced = enforced
	vd.Reason = fmt.Sprintf("image %q %s", vd.Image, reason)
	vd.Fix = fix
	return vd
}

func (v *Verifier) registryError(vd *Verdict, rules []*rule, registry string, err error) *Verdict {
	v.registryErrors.Add(1)
	return vd.registryError(rules, registry, err)
}

func (vd *Verdict) registryError(rules []*rule, registry string, err error) *Verdict {
	vd.Outcome = RegistryError
	enforced := false
	for _, r := range rules {
		enforced = enforced || r.onError == ActionDeny
	}
	return vd.fail(enforced, fmt.Sprintf("could not be verified because registry %s failed: %v (no fresh cached verdict)", registry, sanitize(err)),
		fmt.Sprintf("make %s reachable and check the pod's imagePullSecrets, then retry; %s decides with onRegistryError in admission/images.yaml", registry, policyList(rules)))
}

// sanitize shortens an error for a message; ggcr errors never carry
// credentials, but they can carry whole response bodies.
func sanitize(err error) string {
	s := err.Error()
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}

func policyList(rules []*rule) string {
	names := make([]string, len(rules))
	for i, r := range rules {
		names[i] = r.name
	}
	if len(names) == 1 {
		return "policy " + names[0]
	}
	return "policies " + strings.Join(names, ", ")
}
