package bundles

import (
	"crypto"
	"encoding/json"
	"errors"
	"maps"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

// tamper edits a signed bundle's files.
func tamper(t *testing.T, b *Bundle, edit func(files map[string][]byte)) *Bundle {
	t.Helper()
	files := maps.Clone(b.files)
	edit(files)
	nb, err := New(files)
	if err != nil {
		t.Fatalf("New after tampering: %v", err)
	}
	return nb
}

func TestVerifyTamperMatrix(t *testing.T) {
	t.Parallel()
	for _, alg := range []KeyAlgorithm{ES256, Ed25519} {
		t.Run(string(alg), func(t *testing.T) {
			t.Parallel()
			key := mustKey(t, alg)
			other := mustKey(t, alg)
			signed := mustSign(t, mustNew(t, testFiles("2026.11.27-5")), key)
			kid, _ := KeyID(key.Public())
			trusted := VerifyOptions{PublicKeys: []crypto.PublicKey{key.Public()}}

			tests := []struct {
				name     string
				bundle   *Bundle
				opts     VerifyOptions
				want     error  // errors.Is target; nil means valid
				wantFile string // the file a FileError must name
			}{
				{name: "valid", bundle: signed, opts: trusted},
				{name: "valid among several keys", bundle: signed, opts: VerifyOptions{PublicKeys: []crypto.PublicKey{other.Public(), key.Public()}}},
				{
					name: "edited file", opts: trusted, want: ErrFileModified, wantFile: "pdp/tools.cedar",
					bundle: tamper(t, signed, func(f map[string][]byte) { f["pdp/tools.cedar"] = append(f["pdp/tools.cedar"], ' ') }),
				},
				{
					name: "edited manifest", opts: trusted, want: ErrFileModified, wantFile: ".manifest",
					bundle: tamper(t, signed, func(f map[string][]byte) {
						f[".manifest"] = []byte(`{"name":"test","revision":"2026.11.27-9","roots":["admission","pdp","tests"]}`)
					}),
				},
				{
					name: "added file", opts: trusted, want: ErrFileNotSigned, wantFile: "pdp/extra.cedar",
					bundle: tamper(t, signed, func(f map[string][]byte) { f["pdp/extra.cedar"] = []byte("permit(principal, action, resource);") }),
				},
				{
					name: "removed file", opts: trusted, want: ErrFileMissing, wantFile: "admission/config.yaml",
					bundle: tamper(t, signed, func(f map[string][]byte) { delete(f, "admission/config.yaml") }),
				},
				{name: "wrong key", bundle: signed, opts: VerifyOptions{PublicKeys: []crypto.PublicKey{other.Public()}}, want: ErrBadSignature},
				{
					name: "unsigned", opts: trusted, want: ErrUnsigned,
					bundle: tamper(t, signed, func(f map[string][]byte) { delete(f, SignaturesFile) }),
				},
				{
					name: "garbage signature file", opts: trusted, want: ErrBadSignature,
					bundle: tamper(t, signed, func(f map[string][]byte) { f[SignaturesFile] = []byte(`{"signatures":["x.y.z"]}`) }),
				},
				{
					name: "two signatures", opts: trusted, want: ErrBadSignature,
					bundle: tamper(t, signed, func(f map[string][]byte) {
						var s Signatures
						_ = json.Unmarshal(f[SignaturesFile], &s)
						s.Signatures = append(s.Signatures, s.Signatures[0])
						f[SignaturesFile], _ = json.Marshal(s)
					}),
				},
				{
					name: "replayed older revision", want: ErrRevisionTooOld, bundle: signed,
					opts: VerifyOptions{PublicKeys: []crypto.PublicKey{key.Public()}, MinRevision: "2026.11.27-10"},
				},
				{name: "revision at minimum", bundle: signed, opts: VerifyOptions{PublicKeys: []crypto.PublicKey{key.Public()}, MinRevision: "2026.11.27-5"}},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					t.Parallel()
					v := mustVerifier(t, tt.opts)
					got, err := v.Verify(tt.bundle)
					if tt.want == nil {
						if err != nil {
							t.Fatalf("Verify: %v", err)
						}
						if got.Signer != kid {
							t.Errorf("Signer = %q, want %q", got.Signer, kid)
						}
						return
					}
					if !errors.Is(err, tt.want) || !errors.Is(err, ErrVerification) {
						t.Fatalf("err = %v, want %v and ErrVerification", err, tt.want)
					}
					if got != nil {
						t.Error("a refused bundle was returned")
					}
					if tt.wantFile != "" {
						var fe *FileError
						if !errors.As(err, &fe) || fe.Name != tt.wantFile {
							t.Errorf("err = %v, want a FileError naming %s", err, tt.wantFile)
						}
					}
				})
			}
		})
	}
}

// A signature made by an untrusted key whose header and payload claim a
// trusted key's ID is refused: the kid is a hint, never trusted on its own.
func TestVerifyIgnoresLyingKeyID(t *testing.T) {
	t.Parallel()
	trustedKey, attacker := mustKey(t, ES256), mustKey(t, ES256)
	trustedID, _ := KeyID(trustedKey.Public())
	b := mustNew(t, testFiles("1"))
	payload, _ := json.Marshal(SignedFiles{Files: fileHashes(b), Name: "test", Revision: "1", KeyID: trustedID})
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: attacker, KeyID: trustedID}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	compact, _ := jws.CompactSerialize()
	sigs, _ := json.Marshal(Signatures{Signatures: []string{compact}})
	forged, err := b.with(SignaturesFile, sigs)
	if err != nil {
		t.Fatal(err)
	}
	v := mustVerifier(t, VerifyOptions{PublicKeys: []crypto.PublicKey{trustedKey.Public()}})
	if _, err := v.Verify(forged); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("err = %v, want ErrBadSignature", err)
	}
	// The same payload signed with "none" or HS256 is not even parsed.
	hs, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte("0123456789abcdef0123456789abcdef")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	jws, _ = hs.Sign(payload)
	compact, _ = jws.CompactSerialize()
	sigs, _ = json.Marshal(Signatures{Signatures: []string{compact}})
	forged, _ = b.with(SignaturesFile, sigs)
	if _, err := v.Verify(forged); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("HS256: err = %v, want ErrBadSignature", err)
	}
}

func TestSignedPayloadListsEveryFile(t *testing.T) {
	t.Parallel()
	key := mustKey(t, Ed25519)
	b := mustSign(t, mustNew(t, testFiles("1")), key)
	v := mustVerifier(t, VerifyOptions{PublicKeys: []crypto.PublicKey{key.Public()}})
	payload, _, err := v.verifyJWS(b.files[SignaturesFile])
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range payload.Files {
		names = append(names, f.Name)
	}
	want := []string{".manifest", "admission/config.yaml", "pdp/schema.cedarschema", "pdp/tools.cedar", "tests/authz.json"}
	if len(names) != len(want) {
		t.Fatalf("signed files %v, want %v", names, want)
	}
	for i := range want {
		if names[i] != want[i] {
			t.Fatalf("signed files %v, want %v", names, want)
		}
	}
	// Re-signing replaces the signature rather than signing it.
	b2 := mustSign(t, b, key)
	if _, err := v.Verify(b2); err != nil {
		t.Fatalf("re-signed bundle: %v", err)
	}
}

func TestKeysRoundTrip(t *testing.T) {
	t.Parallel()
	for _, alg := range []KeyAlgorithm{ES256, Ed25519} {
		t.Run(string(alg), func(t *testing.T) {
			k := mustKey(t, alg)
			privPEM, err := MarshalPrivateKey(k)
			if err != nil {
				t.Fatal(err)
			}
			pubPEM, err := MarshalPublicKey(k.Public())
			if err != nil {
				t.Fatal(err)
			}
			k2, err := ParsePrivateKey(privPEM)
			if err != nil {
				t.Fatal(err)
			}
			pub, err := ParsePublicKey(pubPEM)
			if err != nil {
				t.Fatal(err)
			}
			id1, _ := KeyID(k2.Public())
			id2, _ := KeyID(pub)
			if id1 != id2 || id1 == "" {
				t.Fatalf("key ids %q and %q differ", id1, id2)
			}
			if _, err := ParsePublicKey(privPEM); err == nil {
				t.Error("a private key was accepted as a public key")
			}
		})
	}
	if _, err := ParsePrivateKey([]byte("not pem")); err == nil {
		t.Error("garbage accepted as a private key")
	}
}

func TestEnsureDevKey(t *testing.T) {
	t.Parallel()
	dir := t.TempDir() + "/dev-keys"
	k1, pub1, err := EnsureDevKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	k2, pub2, err := EnsureDevKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	id1, _ := KeyID(k1.Public())
	id2, _ := KeyID(k2.Public())
	if id1 != id2 || pub1 != pub2 {
		t.Fatalf("second call made a new key: %s vs %s", id1, id2)
	}
	pub, err := ReadPublicKeyFile(pub1)
	if err != nil {
		t.Fatal(err)
	}
	if id, _ := KeyID(pub); id != id1 {
		t.Errorf("public key file holds %s, want %s", id, id1)
	}
}

func FuzzVerify(f *testing.F) {
	key, err := GenerateKey(Ed25519)
	if err != nil {
		f.Fatal(err)
	}
	b, err := New(testFiles("1"))
	if err != nil {
		f.Fatal(err)
	}
	signed, err := Sign(b, key, SignOptions{})
	if err != nil {
		f.Fatal(err)
	}
	sig, _ := signed.ReadFile(SignaturesFile)
	f.Add(sig)
	f.Add([]byte(`{"signatures":[]}`))
	f.Add([]byte(`{"signatures":["a.b.c"]}`))
	v, err := NewVerifier(VerifyOptions{PublicKeys: []crypto.PublicKey{key.Public()}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, sigFile []byte) {
		nb, err := b.with(SignaturesFile, sigFile)
		if err != nil {
			t.Fatal(err)
		}
		got, err := v.Verify(nb)
		if err != nil {
			if !errors.Is(err, ErrVerification) {
				t.Fatalf("error does not wrap ErrVerification: %v", err)
			}
			return
		}
		// Only a genuine signature over exactly these files verifies.
		if got.Digest() != b.Digest() || got.Signer == "" {
			t.Fatal("verified bundle differs from the signed one")
		}
	})
}

func TestCheckSignedHashes(t *testing.T) {
	t.Parallel()
	signed := mustSign(t, mustNew(t, testFiles("1")), mustKey(t, ES256))
	if err := signed.CheckSignedHashes(); err != nil {
		t.Fatalf("fresh signature: %v", err)
	}
	stale := tamper(t, signed, func(f map[string][]byte) { f["pdp/tools.cedar"] = []byte("changed") })
	var fe *FileError
	if err := stale.CheckSignedHashes(); !errors.As(err, &fe) || fe.Name != "pdp/tools.cedar" || !errors.Is(err, ErrFileModified) {
		t.Fatalf("stale signature: err = %v, want a FileError naming pdp/tools.cedar", err)
	}
	if err := mustNew(t, testFiles("1")).CheckSignedHashes(); !errors.Is(err, ErrUnsigned) {
		t.Fatalf("unsigned: err = %v, want ErrUnsigned", err)
	}
}
