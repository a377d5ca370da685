package bundles

import (
	"bytes"
	"crypto"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "regenerate testdata/signed* (a new key each time; the private key is discarded)")

// TestGoldenSignedBundle checks format stability: a bundle signed by an
// earlier build (testdata/signed, with only its public key committed) still
// verifies, and its archive is still byte-for-byte the committed one.
// Regenerate with `go test ./bundles -run Golden -update` after an
// intentional format change (or when a Go release changes compress/gzip).
func TestGoldenSignedBundle(t *testing.T) {
	dir := filepath.Join("testdata", "signed")
	pubPath := filepath.Join("testdata", "signed.pub.pem")
	archivePath := filepath.Join("testdata", "signed.tar.gz")
	if *update {
		key := mustKey(t, Ed25519)
		created := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
		files := testFiles("2026.11.27-1")
		m := Manifest{Name: "golden", Revision: "2026.11.27-1", Created: &created, Roots: []string{"admission", "pdp", "tests"},
			Source: &ManifestSource{Repository: "https://github.com/agentguard/agentguard", Commit: "0000000"}}
		files[ManifestFile], _ = m.Marshal()
		b, err := Sign(mustNew(t, files), key, SignOptions{Now: func() time.Time { return created }})
		if err != nil {
			t.Fatal(err)
		}
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
		if err := WriteDir(dir, b); err != nil {
			t.Fatal(err)
		}
		pub, _ := MarshalPublicKey(key.Public())
		if err := os.WriteFile(pubPath, pub, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(archivePath, mustArchive(t, b), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := Read(dir, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	pub, err := ReadPublicKeyFile(pubPath)
	if err != nil {
		t.Fatal(err)
	}
	v := mustVerifier(t, VerifyOptions{PublicKeys: []crypto.PublicKey{pub}})
	vb, err := v.Verify(b)
	if err != nil {
		t.Fatalf("golden bundle no longer verifies: %v", err)
	}
	if id, _ := KeyID(pub); vb.Signer != id {
		t.Errorf("signer %q, want %q", vb.Signer, id)
	}
	want, err := os.ReadFile(archivePath)
	if err != nil {
		t.Fatal(err)
	}
	if got := mustArchive(t, b); !bytes.Equal(got, want) {
		t.Errorf("archive of testdata/signed differs from testdata/signed.tar.gz (%d vs %d bytes): the archive format changed; rerun with -update if intended", len(got), len(want))
	}
	fromArchive, err := Read(archivePath, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(fromArchive); err != nil {
		t.Errorf("golden archive: %v", err)
	}
}
