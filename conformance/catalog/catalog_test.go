package catalog_test

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/agentguard/agentguard/conformance/catalog"
)

// controlsMD finds shared/CONTROLS.md next to the repository (CI keeps a
// read-only copy of shared/ at ../shared relative to the repo root).
func controlsMD(t *testing.T) []byte {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the test source")
	}
	root := filepath.Dir(file)
	for {
		if _, err := os.Stat(filepath.Join(root, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(root)
		if parent == root {
			t.Fatal("cannot find the repository root (go.mod) above " + file)
		}
		root = parent
	}
	var tried []string
	for _, rel := range []string{"../shared", "../../shared"} {
		p := filepath.Join(root, rel, "CONTROLS.md")
		data, err := os.ReadFile(p)
		if err == nil {
			return data
		}
		tried = append(tried, p)
	}
	t.Fatalf("CONTROLS.md not found (tried %s); the catalog cannot be checked against it", strings.Join(tried, ", "))
	return nil
}

func TestCatalogMatchesControlsMD(t *testing.T) {
	md, err := catalog.ParseMarkdown(controlsMD(t))
	if err != nil {
		t.Fatal(err)
	}
	cat, err := catalog.Default()
	if err != nil {
		t.Fatal(err)
	}
	type key struct{ ID, Title, Level, Enforcement string }
	var want, got []key
	for _, c := range md {
		want = append(want, key{c.ID, c.Title, c.Level, c.Enforcement})
	}
	for _, c := range cat.Controls {
		got = append(got, key{c.ID, c.Title, c.Level, c.Enforcement})
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("conformance/catalog/controls.yaml is out of step with CONTROLS.md; run `go run ./hack/gencatalog` (-md +yaml):\n%s", diff)
	}
}

func TestCatalogCounts(t *testing.T) {
	cat, err := catalog.Default()
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	auto := 0
	for _, c := range cat.Controls {
		counts[c.Level]++
		if c.Automatable() {
			auto++
		}
	}
	want := map[string]int{catalog.LevelCore: 80, catalog.LevelPlatform: 11, catalog.LevelConditional: 3, catalog.LevelManual: 39}
	if diff := cmp.Diff(want, counts); diff != "" {
		t.Errorf("levels (-want +got):\n%s", diff)
	}
	if auto != 94 {
		t.Errorf("automatable controls: %d, want 94", auto)
	}
}

func TestParseRejectsBadEntries(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"unknown field", "controls:\n- id: AG-GEN-001\n  titel: x\n", "unknown field"},
		{"bad id", "controls:\n- {id: AG-X-1, title: t, section: s, source: s, level: core, enforcement: PDP, check: c}\n", "id must look like"},
		{"check and manual", "controls:\n- {id: AG-GEN-001, title: t, section: s, source: s, level: core, enforcement: PDP, check: c, manual: m}\n", "exactly one of check and manual"},
		{"neither", "controls:\n- {id: AG-GEN-001, title: t, section: s, source: s, level: core, enforcement: PDP}\n", "exactly one of check and manual"},
		{"bad level", "controls:\n- {id: AG-GEN-001, title: t, section: s, source: s, level: gold, enforcement: PDP, check: c}\n", "level \"gold\""},
		{"bad point", "controls:\n- {id: AG-GEN-001, title: t, section: s, source: s, level: core, enforcement: Moon, check: c}\n", "unknown enforcement point"},
		{"duplicate", "controls:\n- {id: M-01, title: t, section: s, source: s, level: manual, enforcement: x, manual: m}\n- {id: M-01, title: t, section: s, source: s, level: manual, enforcement: x, manual: m}\n", "duplicate id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := catalog.Parse([]byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse: %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestSelect(t *testing.T) {
	cat, err := catalog.Default()
	if err != nil {
		t.Fatal(err)
	}
	got, err := cat.Select([]string{"ag-cc-012", "AG-GEN-20*"})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range got {
		ids = append(ids, c.ID)
	}
	want := []string{"AG-GEN-201", "AG-GEN-202", "AG-GEN-203", "AG-GEN-204", "AG-GEN-205", "AG-CC-012"}
	if diff := cmp.Diff(want, ids); diff != "" {
		t.Errorf("Select (-want +got):\n%s", diff)
	}
	if _, err := cat.Select([]string{"AG-NOPE-001"}); err == nil || !strings.Contains(err.Error(), "AG-NOPE-001") {
		t.Errorf("unknown id: %v", err)
	}
}
