package bundles

import (
	"crypto"
	"testing"
	"time"
)

// testFiles is a small bundle; the bundles package does not look inside
// the policy files, so their content only has to be stable.
func testFiles(rev string) map[string][]byte {
	return map[string][]byte{
		".manifest":              []byte(`{"name":"test","revision":"` + rev + `","roots":["admission","pdp","tests"]}`),
		"pdp/schema.cedarschema": []byte("entity Agent;\n"),
		"pdp/tools.cedar":        []byte("@id(\"p1\")\npermit(principal, action, resource);\n"),
		"admission/config.yaml":  []byte("apiVersion: agentguard.io/v1alpha1\nkind: AdmissionConfig\n"),
		"tests/authz.json":       []byte(`{"cases":[]}`),
	}
}

func mustNew(t testing.TB, files map[string][]byte) *Bundle {
	t.Helper()
	b, err := New(files)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return b
}

func mustKey(t testing.TB, alg KeyAlgorithm) crypto.Signer {
	t.Helper()
	k, err := GenerateKey(alg)
	if err != nil {
		t.Fatalf("GenerateKey: %v", err)
	}
	return k
}

func mustSign(t testing.TB, b *Bundle, key crypto.Signer) *Bundle {
	t.Helper()
	sb, err := Sign(b, key, SignOptions{Now: func() time.Time { return time.Unix(1_800_000_000, 0) }})
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	return sb
}

func mustVerifier(t testing.TB, opts VerifyOptions) *Verifier {
	t.Helper()
	v, err := NewVerifier(opts)
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	return v
}

func mustArchive(t testing.TB, b *Bundle) []byte {
	t.Helper()
	data, err := MarshalArchive(b)
	if err != nil {
		t.Fatalf("MarshalArchive: %v", err)
	}
	return data
}
