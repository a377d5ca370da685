package bundles

import (
	"crypto"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Signatures is the content of .signatures.json: one JWS in compact
// serialization, as in OPA bundles.
type Signatures struct {
	Signatures []string `json:"signatures"`
}

// SignedFiles is the payload of a bundle signature.
type SignedFiles struct {
	// Files lists every file of the bundle except .signatures.json, sorted
	// by name.
	Files []FileHash `json:"files"`
	// Name and Revision repeat the manifest's, for readers of the payload;
	// the manifest itself is covered by its hash in Files.
	Name     string `json:"name"`
	Revision string `json:"revision"`
	// KeyID is the signing key's ID (see KeyID).
	KeyID string `json:"keyid"`
	// IssuedAt is when the bundle was signed (Unix seconds).
	IssuedAt int64 `json:"iat"`
}

// FileHash is one signed file.
type FileHash struct {
	Name      string `json:"name"`
	Hash      string `json:"hash"`      // lower-case hex
	Algorithm string `json:"algorithm"` // "SHA-256"
}

// hashAlgorithm is the only file hash algorithm.
const hashAlgorithm = "SHA-256"

// SignOptions configures Sign.
type SignOptions struct {
	// Now is the clock for the signature's iat. Default time.Now.
	Now func() time.Time
}

// Sign returns a copy of b with a .signatures.json signing every other
// file with key (ECDSA P-256 → ES256, Ed25519 → EdDSA). An existing
// signature is replaced. The result's Signer is the key's ID.
func Sign(b *Bundle, key crypto.Signer, opts SignOptions) (*Bundle, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	alg, err := algorithmOf(key.Public())
	if err != nil {
		return nil, err
	}
	kid, err := KeyID(key.Public())
	if err != nil {
		return nil, err
	}
	payload := SignedFiles{
		Files:    fileHashes(b),
		Name:     b.Manifest.Name,
		Revision: b.Manifest.Revision,
		KeyID:    kid,
		IssuedAt: opts.Now().Unix(),
	}
	data, err := json.Marshal(payload)
	if err != nil {
		return nil, err
	}
	joseAlg := jose.ES256
	if alg == Ed25519 {
		joseAlg = jose.EdDSA
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: joseAlg, Key: jose.JSONWebKey{Key: key, KeyID: kid}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return nil, fmt.Errorf("sign bundle: %w", err)
	}
	jws, err := signer.Sign(data)
	if err != nil {
		return nil, fmt.Errorf("sign bundle: %w", err)
	}
	compact, err := jws.CompactSerialize()
	if err != nil {
		return nil, fmt.Errorf("sign bundle: %w", err)
	}
	sigs, err := json.MarshalIndent(Signatures{Signatures: []string{compact}}, "", "  ")
	if err != nil {
		return nil, err
	}
	nb, err := b.with(SignaturesFile, append(sigs, '\n'))
	if err != nil {
		return nil, err
	}
	nb.Signer = kid
	return nb, nil
}

// fileHashes lists the SHA-256 of every file except .signatures.json.
func fileHashes(b *Bundle) []FileHash {
	out := make([]FileHash, 0, len(b.names))
	for _, n := range b.names {
		if n == SignaturesFile {
			continue
		}
		sum := sha256.Sum256(b.files[n])
		out = append(out, FileHash{Name: n, Hash: hex.EncodeToString(sum[:]), Algorithm: hashAlgorithm})
	}
	return out
}
