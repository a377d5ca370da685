package images

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
)

func TestGlobMatch(t *testing.T) {
	t.Parallel()
	cases := []struct {
		glob, image string
		want        bool
	}{
		{"registry.corp.example/**", "registry.corp.example/team/app:1", true},
		{"registry.corp.example/**", "registry.corp.example.evil.com/team/app", false},
		{"registry.corp.example/*", "registry.corp.example/team/app", false},
		{"registry.corp.example/*/app", "registry.corp.example/team/app@sha256:" + strings.Repeat("a", 64), true},
		{"docker.io/library/*", "busybox", true},
		{"docker.io/acme/**", "acme/app:v1", true},
		{"ghcr.io/acme/app?", "ghcr.io/acme/app1", true},
		{"ghcr.io/acme/app?", "ghcr.io/acme/app/1", false},
		{"localhost:5000/**", "localhost:5000/x/y:z", true},
	}
	for _, tc := range cases {
		re, err := compileGlob(tc.glob)
		if err != nil {
			t.Fatal(err)
		}
		ref, err := name.ParseReference(tc.image)
		if err != nil {
			t.Fatal(err)
		}
		if got := re.MatchString(repoName(ref.Context())); got != tc.want {
			t.Errorf("%s ~ %s (%s) = %v, want %v", tc.glob, tc.image, repoName(ref.Context()), got, tc.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	_, pemKey := newKeyPEM(t)
	pol := func(body string) string { return "policies:\n- name: a\n  images: [\"r.example/**\"]\n" + body }
	cases := map[string]string{
		"unknown field":        "policies: []\nextra: 1\n",
		"bad apiVersion":       "apiVersion: v9\npolicies: []\n",
		"bad unmatched":        "unmatched: maybe\npolicies: []\n",
		"no name":              "policies:\n- images: [\"x/**\"]\n  authorities: [{key: {secretRef: {namespace: a, name: b}}}]\n",
		"no images":            "policies:\n- name: a\n  authorities: [{key: {secretRef: {namespace: a, name: b}}}]\n",
		"pattern with digest":  "policies:\n- name: a\n  images: [\"x@sha256:1\"]\n  authorities: [{key: {secretRef: {namespace: a, name: b}}}]\n",
		"bad mode":             pol("  mode: audit\n  authorities: [{key: {secretRef: {namespace: a, name: b}}}]\n"),
		"bad provenance mode":  pol("  provenance: {mode: audit}\n  authorities: [{key: {secretRef: {namespace: a, name: b}}}]\n"),
		"empty provenance key": pol("  provenance: {required: [\" \"]}\n  authorities: [{key: {secretRef: {namespace: a, name: b}}}]\n"),
		"bad onRegistryError":  pol("  onRegistryError: allow\n  authorities: [{key: {secretRef: {namespace: a, name: b}}}]\n"),
		"key and keyless":      pol("  authorities: [{key: {secretRef: {namespace: a, name: b}}, keyless: {subject: a, issuer: b}}]\n"),
		"two key sources":      pol("  authorities: [{key: {file: k.pub, secretRef: {namespace: a, name: b}}}]\n"),
		"secretRef no name":    pol("  authorities: [{key: {secretRef: {namespace: a}}}]\n"),
		"bad pem":              pol("  authorities: [{key: {pem: nope}}]\n"),
		"keyless bad regexp":   "trustedRoot: r.json\n" + pol("  authorities: [{keyless: {subjectRegExp: '(', issuer: b}}]\n"),
		"keyless no issuer":    pol("  authorities: [{keyless: {subject: a}}]\n"),
		"keyless no root":      pol("  authorities: [{keyless: {subject: a, issuer: b}}]\n"),
		"bad trusted root":     "trustedRoot: r.json\n" + pol("  authorities: [{keyless: {subject: a, issuer: b}}]\n"),
		"duplicate names": "policies:\n- name: a\n  images: [\"x/**\"]\n  authorities: [{key: {secretRef: {namespace: a, name: b}}}]\n" +
			"- name: a\n  images: [\"y/**\"]\n  authorities: [{key: {secretRef: {namespace: a, name: b}}}]\n",
	}
	files := map[string][]byte{"r.json": []byte("{}"), "k.pub": []byte(pemKey)}
	for name, doc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Parse([]byte(doc), func(n string) ([]byte, error) { return files[n], nil })
			if !errors.Is(err, ErrInvalidPolicy) {
				t.Fatalf("err = %v, want ErrInvalidPolicy", err)
			}
		})
	}
	p, err := Parse([]byte(pol("  authorities: [{key: {file: k.pub}}]\n")), func(n string) ([]byte, error) { return files[n], nil })
	if err != nil || p.Unmatched() != ActionDeny || p.Revision() == "" {
		t.Fatalf("valid policy: %v", err)
	}
}
