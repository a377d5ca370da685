package bundles

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"

	jose "github.com/go-jose/go-jose/v4"
)

// Verification errors. Every error Verify returns wraps ErrVerification
// and, where it is about one file, is a *FileError naming it.
var (
	ErrVerification = errors.New("bundle verification failed")
	// ErrUnsigned: the bundle has no .signatures.json.
	ErrUnsigned = errors.New("bundle is not signed")
	// ErrBadSignature: the signature is malformed, or no trusted key
	// verifies it.
	ErrBadSignature = errors.New("bad bundle signature")
	// ErrFileModified: a file's content differs from its signed hash.
	ErrFileModified = errors.New("file does not match its signed hash")
	// ErrFileNotSigned: a file of the bundle is not listed in the signature.
	ErrFileNotSigned = errors.New("file is not signed")
	// ErrFileMissing: a signed file is absent from the bundle.
	ErrFileMissing = errors.New("signed file is missing")
	// ErrRevisionTooOld: the revision orders before the configured minimum
	// (a replayed older bundle).
	ErrRevisionTooOld = errors.New("bundle revision is older than the minimum")
)

// FileError is a verification failure about one file.
type FileError struct {
	Name string
	Err  error
}

func (e *FileError) Error() string { return fmt.Sprintf("%s: %v", e.Name, e.Err) }

// Unwrap returns the cause and ErrVerification.
func (e *FileError) Unwrap() []error { return []error{e.Err, ErrVerification} }

// VerifyOptions configures a Verifier.
type VerifyOptions struct {
	// PublicKeys are the trusted keys (ECDSA P-256 or Ed25519). At least
	// one is required.
	PublicKeys []crypto.PublicKey
	// MinRevision, when set, refuses bundles whose revision orders before
	// it (CompareRevisions), so that an attacker who controls the source
	// cannot replay an older signed bundle.
	MinRevision string
}

// Verifier checks bundle signatures against trusted keys. It fails
// closed: a bundle is accepted only if a trusted key verifies the JWS,
// every file is listed with a matching SHA-256, and every listed file is
// present.
type Verifier struct {
	keys   map[string]crypto.PublicKey
	ids    []string
	minRev string
}

// NewVerifier returns a Verifier for opts.
func NewVerifier(opts VerifyOptions) (*Verifier, error) {
	if len(opts.PublicKeys) == 0 {
		return nil, errors.New("bundle verifier: no public key given")
	}
	v := &Verifier{keys: map[string]crypto.PublicKey{}, minRev: opts.MinRevision}
	for _, k := range opts.PublicKeys {
		if _, err := algorithmOf(k); err != nil {
			return nil, fmt.Errorf("bundle verifier: %w", err)
		}
		id, err := KeyID(k)
		if err != nil {
			return nil, fmt.Errorf("bundle verifier: %w", err)
		}
		if _, dup := v.keys[id]; !dup {
			v.ids = append(v.ids, id)
		}
		v.keys[id] = k
	}
	return v, nil
}

// KeyIDs returns the IDs of the trusted keys.
func (v *Verifier) KeyIDs() []string { return slices.Clone(v.ids) }

var jwsAlgorithms = []jose.SignatureAlgorithm{jose.ES256, jose.EdDSA}

// maxSignaturesBytes bounds .signatures.json: a few hundred bytes per
// hundred files in practice.
const maxSignaturesBytes = 4 << 20

// Verify checks b and returns a copy whose Signer is the ID of the key
// that verified it. All file problems are reported together, each naming
// its file.
func (v *Verifier) Verify(b *Bundle) (*Bundle, error) {
	raw, ok := b.files[SignaturesFile]
	if !ok {
		return nil, fmt.Errorf("%w: %w", ErrVerification, ErrUnsigned)
	}
	payload, kid, err := v.verifyJWS(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %w: %w", ErrVerification, ErrBadSignature, err)
	}
	if err := checkFiles(b, payload); err != nil {
		return nil, err
	}
	if payload.Revision != b.Manifest.Revision || payload.Name != b.Manifest.Name {
		return nil, fmt.Errorf("%w: %w: signed for %s@%s, manifest says %s@%s", ErrVerification, ErrBadSignature,
			payload.Name, payload.Revision, b.Manifest.Name, b.Manifest.Revision)
	}
	if v.minRev != "" && CompareRevisions(b.Manifest.Revision, v.minRev) < 0 {
		return nil, fmt.Errorf("%w: %w: %q < %q", ErrVerification, ErrRevisionTooOld, b.Manifest.Revision, v.minRev)
	}
	nb := *b
	nb.Signer = kid
	return &nb, nil
}

// verifyJWS parses .signatures.json, verifies its one JWS with a trusted
// key and decodes the payload strictly.
func (v *Verifier) verifyJWS(raw []byte) (*SignedFiles, string, error) {
	if len(raw) > maxSignaturesBytes {
		return nil, "", fmt.Errorf("%s larger than %d bytes", SignaturesFile, maxSignaturesBytes)
	}
	var sigs Signatures
	if err := strictJSON(raw, &sigs); err != nil {
		return nil, "", fmt.Errorf("%s: %w", SignaturesFile, err)
	}
	if len(sigs.Signatures) != 1 {
		return nil, "", fmt.Errorf("%s: want exactly one signature, found %d", SignaturesFile, len(sigs.Signatures))
	}
	jws, err := jose.ParseSignedCompact(sigs.Signatures[0], jwsAlgorithms)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", SignaturesFile, err)
	}
	if len(jws.Signatures) != 1 {
		return nil, "", fmt.Errorf("%s: want one signature in the JWS", SignaturesFile)
	}
	// The kid header only chooses which key to try first: the signer is
	// the key that verifies, never the header's word.
	order := v.ids
	if hdr := jws.Signatures[0].Header.KeyID; hdr != "" {
		if _, ok := v.keys[hdr]; ok {
			order = append([]string{hdr}, v.ids...)
		}
	}
	for _, id := range order {
		data, err := jws.Verify(v.keys[id])
		if err != nil {
			continue
		}
		var p SignedFiles
		if err := strictJSON(data, &p); err != nil {
			return nil, "", fmt.Errorf("signed payload: %w", err)
		}
		return &p, id, nil
	}
	return nil, "", fmt.Errorf("no trusted key (%v) verifies the signature (key id %q)", v.ids, jws.Signatures[0].Header.KeyID)
}

// checkFiles compares the bundle with the signed file list.
func checkFiles(b *Bundle, p *SignedFiles) error {
	var errs []error
	signed := make(map[string]string, len(p.Files))
	for _, f := range p.Files {
		switch {
		case f.Algorithm != hashAlgorithm:
			errs = append(errs, &FileError{Name: f.Name, Err: fmt.Errorf("%w: hash algorithm %q, want %s", ErrBadSignature, f.Algorithm, hashAlgorithm)})
			continue
		case f.Name == SignaturesFile:
			errs = append(errs, &FileError{Name: f.Name, Err: fmt.Errorf("%w: the signature file cannot sign itself", ErrBadSignature)})
			continue
		}
		if _, dup := signed[f.Name]; dup {
			errs = append(errs, &FileError{Name: f.Name, Err: fmt.Errorf("%w: listed twice", ErrBadSignature)})
			continue
		}
		signed[f.Name] = f.Hash
	}
	for _, n := range b.names {
		if n == SignaturesFile {
			continue
		}
		want, ok := signed[n]
		if !ok {
			errs = append(errs, &FileError{Name: n, Err: ErrFileNotSigned})
			continue
		}
		sum := sha256.Sum256(b.files[n])
		got, err := hex.DecodeString(want)
		if err != nil || subtle.ConstantTimeCompare(got, sum[:]) != 1 {
			errs = append(errs, &FileError{Name: n, Err: ErrFileModified})
		}
	}
	for _, f := range p.Files {
		if _, ok := b.files[f.Name]; !ok && f.Name != SignaturesFile {
			errs = append(errs, &FileError{Name: f.Name, Err: ErrFileMissing})
		}
	}
	return errors.Join(errs...)
}

func strictJSON(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("data after the JSON value")
	}
	return nil
}

// UnverifiedSignature decodes the signature payload without checking it,
// for display (`agentguard bundle inspect` without a key). Never base a
// decision on it; use Verifier.Verify.
func (b *Bundle) UnverifiedSignature() (*SignedFiles, error) {
	raw, ok := b.files[SignaturesFile]
	if !ok {
		return nil, ErrUnsigned
	}
	var sigs Signatures
	if err := strictJSON(raw, &sigs); err != nil || len(sigs.Signatures) != 1 {
		return nil, fmt.Errorf("%w: %s is malformed", ErrBadSignature, SignaturesFile)
	}
	jws, err := jose.ParseSignedCompact(sigs.Signatures[0], jwsAlgorithms)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadSignature, err)
	}
	var p SignedFiles
	if err := strictJSON(jws.UnsafePayloadWithoutVerification(), &p); err != nil {
		return nil, fmt.Errorf("%w: payload: %w", ErrBadSignature, err)
	}
	return &p, nil
}

// CheckSignedHashes compares the files with the hashes listed in the
// signature, without checking the signature itself: it tells a stale
// .signatures.json (files edited after signing) apart before any key is
// at hand. Errors name the files, as Verify's do.
func (b *Bundle) CheckSignedHashes() error {
	p, err := b.UnverifiedSignature()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrVerification, err)
	}
	return checkFiles(b, p)
}
