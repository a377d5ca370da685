package chart

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"sigs.k8s.io/yaml"
)

// promtoolBin is $PROMTOOL or bin/promtool.
func promtoolBin(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("PROMTOOL"); p != "" {
		return p
	}
	p := filepath.Join(repoRoot(t), "bin", "promtool")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("promtool not found at %s: run `make test` (it installs the pinned promtool) or `make bin/promtool`, or set $PROMTOOL: %v", p, err)
	}
	return p
}

// TestAlertRules loads the chart's SLO alerts into promtool: `check rules`
// (syntax, PromQL) and the shipped unit tests in
// charts/agentguard/tests/alerts_test.yaml (AG-GEN-105).
func TestAlertRules(t *testing.T) {
	var spec map[string]any
	for _, o := range objects(t, render(t, filepath.Join("testdata", "values", "monitoring.yaml"))) {
		if o.GetKind() == "PrometheusRule" {
			spec, _ = o.Object["spec"].(map[string]any)
		}
	}
	if spec == nil {
		t.Fatal("no PrometheusRule rendered with testdata/values/monitoring.yaml")
	}
	groups, _ := spec["groups"].([]any)
	for _, g := range groups {
		for _, r := range g.(map[string]any)["rules"].([]any) {
			ann, _ := r.(map[string]any)["annotations"].(map[string]any)
			if ann["slo"] == nil || ann["summary"] == nil {
				t.Errorf("alert %v does not state its SLO and summary in annotations", r.(map[string]any)["alert"])
			}
		}
	}
	rules, err := yaml.Marshal(map[string]any{"groups": groups})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), rules, 0o600); err != nil {
		t.Fatal(err)
	}
	tests, err := os.ReadFile(filepath.Join(chartDir(t), "tests", "alerts_test.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "alerts_test.yaml"), tests, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"check", "rules", "rules.yaml"}, {"test", "rules", "alerts_test.yaml"}} {
		cmd := exec.Command(promtoolBin(t), args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %v: %v\n%s", args, err, out)
		}
	}
}
