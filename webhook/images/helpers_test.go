package images

import (
	"encoding/json"
	"strings"
	"testing"
)

// policyDoc renders an images.yaml with one policy over the registry's
// "signed/**" repositories.
func policyDoc(host string, authorities string, extra string) string {
	return `apiVersion: agentguard.io/v1alpha1
kind: ImagePolicy
` + extra + `
policies:
- name: test
  images: ["` + host + `/signed/**"]
  authorities:
` + authorities
}

func keyAuthority(name, pemKey string) string {
	var b strings.Builder
	b.WriteString("  - name: " + name + "\n    key:\n      pem: |\n")
	for _, l := range strings.Split(strings.TrimSpace(pemKey), "\n") {
		b.WriteString("        " + l + "\n")
	}
	return b.String()
}

func mustParse(t testing.TB, doc string, files map[string][]byte) *Policy {
	t.Helper()
	p, err := Parse([]byte(doc), func(n string) ([]byte, error) {
		if b, ok := files[n]; ok {
			return b, nil
		}
		return nil, errNoFile
	})
	if err != nil {
		t.Fatalf("Parse: %v\n%s", err, doc)
	}
	return p
}

var errNoFile = &json.UnsupportedValueError{Str: "no such file"}

func newTestVerifier(t testing.TB, opts Options) *Verifier {
	t.Helper()
	v, err := NewVerifier(opts)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
