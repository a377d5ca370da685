package bundles

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// KeyAlgorithm names a signing algorithm for bundle keys.
type KeyAlgorithm string

// The supported key algorithms.
const (
	// ES256 is ECDSA on P-256 with SHA-256 (the default).
	ES256 KeyAlgorithm = "ES256"
	// Ed25519 is EdDSA on Curve25519.
	Ed25519 KeyAlgorithm = "Ed25519"
)

// ErrUnsupportedKey is wrapped by errors about keys of another type.
var ErrUnsupportedKey = errors.New("unsupported key: want an ECDSA P-256 or Ed25519 key")

// GenerateKey returns a new private key for alg ("" means ES256).
func GenerateKey(alg KeyAlgorithm) (crypto.Signer, error) {
	switch alg {
	case ES256, "":
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case Ed25519:
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		return priv, err
	}
	return nil, fmt.Errorf("%w: algorithm %q", ErrUnsupportedKey, alg)
}

// MarshalPrivateKey encodes a private key as PKCS #8 PEM.
func MarshalPrivateKey(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// MarshalPublicKey encodes a public key as PKIX PEM.
func MarshalPublicKey(key crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// ParsePrivateKey decodes a PEM private key (PKCS #8, or SEC 1 "EC PRIVATE
// KEY") of a supported type.
func ParsePrivateKey(data []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block found")
	}
	var key any
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("PEM block %q: want PRIVATE KEY", block.Type)
	}
	if err != nil {
		return nil, err
	}
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() {
			return nil, fmt.Errorf("%w: ECDSA curve %s", ErrUnsupportedKey, k.Curve.Params().Name)
		}
		return k, nil
	case ed25519.PrivateKey:
		return k, nil
	}
	return nil, fmt.Errorf("%w: %T", ErrUnsupportedKey, key)
}

// ParsePublicKey decodes a PEM public key (PKIX) of a supported type.
func ParsePublicKey(data []byte) (crypto.PublicKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block found")
	}
	if block.Type != "PUBLIC KEY" {
		return nil, fmt.Errorf("PEM block %q: want PUBLIC KEY", block.Type)
	}
	key, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	if _, err := algorithmOf(key); err != nil {
		return nil, err
	}
	return key, nil
}

// ReadPrivateKeyFile and ReadPublicKeyFile read PEM key files.
func ReadPrivateKeyFile(path string) (crypto.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	k, err := ParsePrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("private key %s: %w", path, err)
	}
	return k, nil
}

// ReadPublicKeyFile reads a PEM public key file.
func ReadPublicKeyFile(path string) (crypto.PublicKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	k, err := ParsePublicKey(data)
	if err != nil {
		return nil, fmt.Errorf("public key %s: %w", path, err)
	}
	return k, nil
}

// KeyID identifies a public key: the first 16 hex digits of the SHA-256 of
// its PKIX encoding. Signatures name their key by it, and Bundle.Signer
// holds it.
func KeyID(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:8]), nil
}

func algorithmOf(pub crypto.PublicKey) (KeyAlgorithm, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return "", fmt.Errorf("%w: ECDSA curve %s", ErrUnsupportedKey, k.Curve.Params().Name)
		}
		return ES256, nil
	case ed25519.PublicKey:
		return Ed25519, nil
	}
	return "", fmt.Errorf("%w: %T", ErrUnsupportedKey, pub)
}

// Dev key file names, see EnsureDevKey.
const (
	DevKeyFile    = "bundle-signing.key.pem"
	DevPubKeyFile = "bundle-signing.pub.pem"
)

// EnsureDevKey returns the development signing key kept in dir (for
// example ~/.cache/agentguard/dev-keys), generating an ES256 key pair there
// on first use: the private key is written 0600, the public key next to it.
// It exists so that `make run` can sign the default bundle on a fresh
// machine without a private key in the repository. Never use it for
// production bundles.
func EnsureDevKey(dir string) (key crypto.Signer, pubPath string, err error) {
	keyPath := filepath.Join(dir, DevKeyFile)
	pubPath = filepath.Join(dir, DevPubKeyFile)
	if k, err := ReadPrivateKeyFile(keyPath); err == nil {
		pub, err := MarshalPublicKey(k.Public())
		if err != nil {
			return nil, "", err
		}
		if old, err := os.ReadFile(pubPath); err != nil || string(old) != string(pub) {
			if err := writeFileAtomic(pubPath, pub, 0o644); err != nil {
				return nil, "", err
			}
		}
		return k, pubPath, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, "", err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, "", err
	}
	k, err := GenerateKey(ES256)
	if err != nil {
		return nil, "", err
	}
	priv, err := MarshalPrivateKey(k)
	if err != nil {
		return nil, "", err
	}
	pub, err := MarshalPublicKey(k.Public())
	if err != nil {
		return nil, "", err
	}
	if err := writeFileAtomic(keyPath, priv, 0o600); err != nil {
		return nil, "", err
	}
	if err := writeFileAtomic(pubPath, pub, 0o644); err != nil {
		return nil, "", err
	}
	return k, pubPath, nil
}
