package bundles

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseManifest(t *testing.T) {
	created := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		in    string
		want  *Manifest
		error bool
	}{
		{name: "minimal", in: `{"name":"default","revision":"1"}`, want: &Manifest{Name: "default", Revision: "1"}},
		{
			name: "full",
			in: `{"name":"acme","revision":"2026.11.27-1","created":"2026-11-27T10:00:00Z","roots":["pdp","admission"],
			      "minAgentguardVersion":"v0.3.0","source":{"repository":"https://git.example/acme/policies","commit":"abc123"}}`,
			want: &Manifest{Name: "acme", Revision: "2026.11.27-1", Created: &created, Roots: []string{"pdp", "admission"},
				MinAgentguardVersion: "v0.3.0", Source: &ManifestSource{Repository: "https://git.example/acme/policies", Commit: "abc123"}},
		},
		{name: "no name", in: `{"revision":"1"}`, error: true},
		{name: "no revision", in: `{"name":"x"}`, error: true},
		{name: "unknown field", in: `{"name":"x","revision":"1","revison":"2"}`, error: true},
		{name: "trailing data", in: `{"name":"x","revision":"1"} {}`, error: true},
		{name: "not an object", in: `[]`, error: true},
		{name: "empty", in: ``, error: true},
		{name: "space in revision", in: `{"name":"x","revision":"1 2"}`, error: true},
		{name: "slash in name", in: `{"name":"a/b","revision":"1"}`, error: true},
		{name: "dot-dot name", in: `{"name":"..","revision":"1"}`, error: true},
		{name: "nested root", in: `{"name":"x","revision":"1","roots":["pdp/x"]}`, error: true},
		{name: "duplicate root", in: `{"name":"x","revision":"1","roots":["pdp","pdp"]}`, error: true},
		{name: "bad min version", in: `{"name":"x","revision":"1","minAgentguardVersion":"latest"}`, error: true},
		{name: "bad created", in: `{"name":"x","revision":"1","created":"yesterday"}`, error: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseManifest([]byte(tt.in))
			if tt.error {
				if !errors.Is(err, ErrInvalidManifest) {
					t.Fatalf("err = %v, want ErrInvalidManifest", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("manifest (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNewRefusesFilesOutsideRoots(t *testing.T) {
	files := testFiles("1")
	files["other/x.txt"] = []byte("x")
	if _, err := New(files); !errors.Is(err, ErrInvalidManifest) {
		t.Fatalf("err = %v, want ErrInvalidManifest", err)
	}
}

func TestNewRefusesMissingManifest(t *testing.T) {
	files := testFiles("1")
	delete(files, ".manifest")
	if _, err := New(files); !errors.Is(err, ErrInvalidManifest) {
		t.Fatalf("err = %v, want ErrInvalidManifest", err)
	}
}

func TestManifestRoundTrip(t *testing.T) {
	m := &Manifest{Name: "x", Revision: "7", Roots: []string{"pdp"}, MinAgentguardVersion: "0.1.0"}
	data, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseManifest(data)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(m, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

func FuzzParseManifest(f *testing.F) {
	f.Add([]byte(`{"name":"default","revision":"1"}`))
	f.Add([]byte(`{"name":"a","revision":"2026.11.27-1","created":"2026-11-27T10:00:00Z","roots":["pdp"],"minAgentguardVersion":"0.1.0","source":{"repository":"r","commit":"c"}}`))
	f.Add([]byte(`{"name":"a","revision":"1"}garbage`))
	f.Add([]byte(`{"roots":["..","/"]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseManifest(data)
		if err != nil {
			if !errors.Is(err, ErrInvalidManifest) {
				t.Fatalf("error does not wrap ErrInvalidManifest: %v", err)
			}
			return
		}
		// An accepted manifest survives a round trip unchanged.
		out, err := m.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		m2, err := ParseManifest(out)
		if err != nil {
			t.Fatalf("re-parse of %s: %v", out, err)
		}
		if diff := cmp.Diff(m, m2); diff != "" {
			t.Fatalf("round trip (-first +second):\n%s", diff)
		}
	})
}

func TestCompareRevisions(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"1", "1", 0},
		{"9", "10", -1},
		{"10", "9", 1},
		{"2026.11.27-2", "2026.11.27-10", -1},
		{"v1.9.0", "v1.10.0", -1},
		{"007", "7", 0},
		{"1", "1a", -1},
		{"abc", "abd", -1},
		{"r2", "r10", -1},
		{"2026.11.28-1", "2026.11.27-9", 1},
	}
	for _, tt := range tests {
		t.Run(tt.a+"_vs_"+tt.b, func(t *testing.T) {
			if got := CompareRevisions(tt.a, tt.b); got != tt.want {
				t.Errorf("CompareRevisions(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
			}
			if got := CompareRevisions(tt.b, tt.a); got != -tt.want {
				t.Errorf("CompareRevisions(%q, %q) = %d, want %d", tt.b, tt.a, got, -tt.want)
			}
		})
	}
}

func TestVersionAtLeast(t *testing.T) {
	tests := []struct {
		running, min string
		want         bool
	}{
		{"0.3.0", "0.3.0", true},
		{"v0.3.1", "0.3.0", true},
		{"0.2.9", "0.3.0", false},
		{"1.0.0", "0.9.9", true},
		{"v0.10.0-rc.1", "0.9.0", true},
		{"dev", "9.9.9", true},
		{"0.1.0", "", true},
	}
	for _, tt := range tests {
		if got := versionAtLeast(tt.running, tt.min); got != tt.want {
			t.Errorf("versionAtLeast(%q, %q) = %v, want %v", tt.running, tt.min, got, tt.want)
		}
	}
}

func TestWithManifest(t *testing.T) {
	t.Parallel()
	signed := mustSign(t, mustNew(t, testFiles("1")), mustKey(t, ES256))
	m := signed.Manifest
	m.Revision = "2"
	m.Source = &ManifestSource{Repository: "https://git.example/p", Commit: "abc"}
	nb, err := signed.WithManifest(m)
	if err != nil {
		t.Fatal(err)
	}
	if nb.Revision() != "2" || nb.Signed() || nb.Manifest.Source.Commit != "abc" {
		t.Errorf("WithManifest: revision %q signed %v source %+v", nb.Revision(), nb.Signed(), nb.Manifest.Source)
	}
	if signed.Revision() != "1" {
		t.Error("WithManifest changed the original")
	}
	m.Revision = ""
	if _, err := signed.WithManifest(m); !errors.Is(err, ErrInvalidManifest) {
		t.Errorf("empty revision: err = %v, want ErrInvalidManifest", err)
	}
}
