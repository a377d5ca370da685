package images

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
)

// FuzzParse: Parse never panics, and whatever it accepts is usable.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"policies: []\n",
		"unmatched: warn\npolicies:\n- name: a\n  images: [\"r.example/**\"]\n  authorities: [{key: {secretRef: {namespace: n, name: s}}}]\n",
		"policies:\n- name: a\n  images: [\"r.example/*/x?\"]\n  mode: warn\n  onRegistryError: warn\n  authorities: [{keyless: {subject: a, issuer: b}}]\n",
		"kind: Nope\n",
		"policies:\n- name: a\n  images: [\"[\"]\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(data, nil)
		if err != nil {
			return
		}
		_ = p.match("registry.example/team/app")
		_ = p.Names()
	})
}

// FuzzVerifyClassic: a classic signature verifies only when the payload is
// a cosign simple-signing payload for exactly the digest; random payloads,
// signatures and digests never panic or pass.
func FuzzVerifyClassic(f *testing.F) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	const digest = "sha256:0000000000000000000000000000000000000000000000000000000000000000"
	f.Add([]byte(`{"critical":{"image":{"docker-manifest-digest":"`+digest+`"},"type":"cosign container image signature"}}`), "MEUCIQ==")
	f.Add([]byte("{}"), "")
	f.Fuzz(func(t *testing.T, payload []byte, sig string) {
		s := classicSig{payload: payload, signature: sig}
		if err := verifyClassic(&s, key.Public(), digest); err == nil {
			t.Fatalf("unsigned payload %q verified", payload)
		}
	})
}

// FuzzDockerConfig: docker config documents from Secrets never panic, and
// errors never echo the document (it holds credentials).
func FuzzDockerConfig(f *testing.F) {
	f.Add([]byte(`{"auths":{"r.example":{"auth":"dTpw"}}}`))
	f.Add([]byte(`{"auths":{"https://index.docker.io/v1/":{"username":"u","password":"p"}}}`))
	f.Add([]byte(`{"auths":{"r.example":{"auth":"!!"}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		kc, err := DockerConfigKeychain(data)
		if err != nil {
			if len(data) > 8 && strings.Contains(err.Error(), string(data)) {
				t.Fatalf("error echoes the config: %v", err)
			}
			return
		}
		_, _ = kc.Resolve(name.MustParseReference("r.example/team/app").Context())
	})
}
