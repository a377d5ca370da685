package images

import (
	"bytes"
	"crypto"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/signature"
)

// cosignSignType is the simple-signing payload type cosign writes, and
// cosignSignPredicate the in-toto predicate type of a cosign v3 image
// signature in a Sigstore bundle.
const (
	cosignSignType      = "cosign container image signature"
	cosignSignPredicate = "https://sigstore.dev/cosign/sign/v1"
)

// simpleSigning is the part of a simple-signing payload that is checked.
type simpleSigning struct {
	Critical struct {
		Identity struct {
			DockerReference string `json:"docker-reference"`
		} `json:"identity"`
		Image struct {
			DockerManifestDigest string `json:"docker-manifest-digest"`
		} `json:"image"`
		Type string `json:"type"`
	} `json:"critical"`
}

// errNoMatch is returned when a signature does not satisfy an authority.
var errNoMatch = errors.New("signature does not match")

// verifyClassic checks one classic cosign signature against a public key
// and binds its payload to digest (the claim check: a signature copied from
// another image's .sig tag names that image's digest and fails here).
func verifyClassic(s *classicSig, key crypto.PublicKey, digest string) error {
	sig, err := base64.StdEncoding.DecodeString(s.signature)
	if err != nil {
		return fmt.Errorf("signature is not base64: %w", err)
	}
	v, err := signature.LoadVerifier(key, crypto.SHA256)
	if err != nil {
		return err
	}
	if err := v.VerifySignature(bytes.NewReader(sig), bytes.NewReader(s.payload)); err != nil {
		return errNoMatch
	}
	return checkClaim(s.payload, digest)
}

// bundleVerifier verifies Sigstore bundles for one authority.
type bundleVerifier struct {
	v *verify.Verifier
	// vTlog, for keyless authorities, also verifies the transparency-log
	// entries a signature carries and counts their integrated times as
	// observer timestamps; v then covers signatures with RFC 3161
	// timestamps only.
	vTlog  *verify.Verifier
	policy []verify.PolicyOption
}

// verifier picks the verifier for an entity.
func (bv *bundleVerifier) verifier(e verify.SignedEntity) *verify.Verifier {
	if bv.vTlog != nil {
		if entries, err := e.TlogEntries(); err == nil && len(entries) > 0 {
			return bv.vTlog
		}
	}
	return bv.v
}

func newKeyBundleVerifier(key crypto.PublicKey) (*bundleVerifier, error) {
	sv, err := signature.LoadVerifier(key, crypto.SHA256)
	if err != nil {
		return nil, err
	}
	ek := root.NewExpiringKey(sv, time.Time{}, time.Time{})
	material := root.NewTrustedPublicKeyMaterial(func(string) (root.TimeConstrainedVerifier, error) { return ek, nil })
	// A key signature has no certificate whose validity needs an observer
	// timestamp; transparency-log entries, when present, are not required.
	v, err := verify.NewVerifier(material, verify.WithNoObserverTimestamps())
	if err != nil {
		return nil, err
	}
	return &bundleVerifier{v: v, policy: []verify.PolicyOption{verify.WithKey()}}, nil
}

func newKeylessBundleVerifier(k *KeylessSpec, trusted root.TrustedMaterial) (*bundleVerifier, error) {
	id, err := verify.NewShortCertificateIdentity(k.Issuer, k.IssuerRegExp, k.Subject, k.SubjectRegExp)
	if err != nil {
		return nil, err
	}
	// A Fulcio certificate lives minutes: the signature must carry proof
	// (a transparency-log integrated time or an RFC 3161 timestamp) that it
	// was made while the certificate was valid.
	v, err := verify.NewVerifier(trusted, verify.WithObserverTimestamps(1))
	if err != nil {
		return nil, err
	}
	vTlog, err := verify.NewVerifier(trusted, verify.WithTransparencyLog(1), verify.WithObserverTimestamps(1))
	if err != nil {
		return nil, err
	}
	return &bundleVerifier{v: v, vTlog: vTlog, policy: []verify.PolicyOption{verify.WithCertificateIdentity(id)}}, nil
}

// verifyBundle checks one Sigstore bundle against the authority and binds
// it to digest (the in-toto subject, or the signed message digest).
func (bv *bundleVerifier) verifyBundle(b *bundle.Bundle, digest string) error {
	algo, hexDigest, ok := bytes.Cut([]byte(digest), []byte(":"))
	if !ok {
		return fmt.Errorf("digest %q is malformed", digest)
	}
	raw, err := hex.DecodeString(string(hexDigest))
	if err != nil {
		return fmt.Errorf("digest %q is malformed", digest)
	}
	res, err := bv.verifier(b).Verify(b, verify.NewPolicy(verify.WithArtifactDigest(string(algo), raw), bv.policy...))
	if err != nil {
		return err
	}
	if res.Statement != nil && res.Statement.GetPredicateType() != cosignSignPredicate {
		return fmt.Errorf("bundle is an attestation (%s), not an image signature", res.Statement.GetPredicateType())
	}
	return nil
}

// verifyClassicKeyless checks a classic keyless signature (cosign v2's
// default): the certificate chains to a Fulcio CA of the trusted root and
// matches the identity, the Rekor entry's signed entry timestamp (or an
// RFC 3161 timestamp) proves the signature was made while the certificate
// was valid, the signature covers the payload, and the payload names digest.
func (bv *bundleVerifier) verifyClassicKeyless(s *classicSig, digest string) error {
	e, err := newClassicEntity(s)
	if err != nil {
		return err
	}
	if _, err := bv.verifier(e).Verify(e, verify.NewPolicy(verify.WithArtifact(bytes.NewReader(s.payload)), bv.policy...)); err != nil {
		return err
	}
	return checkClaim(s.payload, digest)
}

// checkClaim binds a simple-signing payload to digest.
func checkClaim(payload []byte, digest string) error {
	var ss simpleSigning
	if err := json.Unmarshal(payload, &ss); err != nil {
		return fmt.Errorf("signed payload is not simple-signing JSON: %w", err)
	}
	if ss.Critical.Type != cosignSignType {
		return fmt.Errorf("signed payload has type %q, want %q", ss.Critical.Type, cosignSignType)
	}
	if ss.Critical.Image.DockerManifestDigest != digest {
		return fmt.Errorf("signature is for digest %s, not this image (a signature copied from another image)", ss.Critical.Image.DockerManifestDigest)
	}
	return nil
}
