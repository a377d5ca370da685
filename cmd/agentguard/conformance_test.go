package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentguard/agentguard/conformance/catalog"
	"github.com/agentguard/agentguard/conformance/report"
)

func TestConformanceList(t *testing.T) {
	out, err := runCLI(t, "conformance", "list")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"AG-CC-012", "pdp/caller-authentication", "M-39", "133 entries"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q", want)
		}
	}
	out, err = runCLI(t, "conformance", "list", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var cat catalog.Catalog
	if err := json.Unmarshal([]byte(out), &cat); err != nil || len(cat.Controls) != 133 {
		t.Errorf("json: %v, %d controls", err, len(cat.Controls))
	}
	if _, err := runCLI(t, "conformance", "list", "-o", "yaml"); exitCode(err) != 2 {
		t.Errorf("-o yaml: exit %d, want 2", exitCode(err))
	}
}

// noCluster makes the default kubeconfig empty, so no cluster is found.
func noCluster(t *testing.T) {
	empty := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KUBECONFIG", empty)
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
}

func TestConformanceRunWithoutCluster(t *testing.T) {
	noCluster(t)
	dir := filepath.Join(t.TempDir(), "out")
	out, err := runCLI(t, "conformance", "run", "--controls", "AG-CC-005,AG-CC-006,AG-GEN-001", "--bundle", "../../policies", "-o", dir, "--oscal")
	if err != nil {
		t.Fatalf("exit %d: %v\n%s", exitCode(err), err, out)
	}
	for _, want := range []string{"no cluster configured", "AG-CC-006", "PASS 2", "MANUAL 1"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	f, err := os.Open(filepath.Join(dir, report.FileJSON))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	rep, err := report.ReadJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Results) != 3 || rep.Results[0].ID != "AG-GEN-001" || rep.Results[0].Status != "MANUAL" {
		t.Errorf("report results: %+v", rep.Results)
	}
	for _, name := range []string{report.FileJUnit, report.FileHTML, report.FileOSCAL} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Error(err)
		}
	}
}

func TestConformanceRunBadInput(t *testing.T) {
	noCluster(t)
	tmp := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(tmp, name)
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	badProfile := write("profile.yaml", "admission: {tenant: team-b}\nnonsense: 1\n")
	emptyToken := write("token", "\n")
	deadCluster := write("dead.kubeconfig", `apiVersion: v1
kind: Config
clusters: [{name: dead, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: x}}]
contexts: [{name: dead, context: {cluster: dead, user: u}}]
current-context: dead
`)
	out := filepath.Join(tmp, "out")
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"no output dir", nil, "-o DIR is required"},
		{"bad profile", []string{"-o", out, "--profile", badProfile}, "unknown field"},
		{"missing profile", []string{"-o", out, "--profile", filepath.Join(tmp, "nope.yaml")}, "read profile"},
		{"empty token", []string{"-o", out, "--pdp", "http://127.0.0.1:1", "--pdp-token-file", emptyToken}, "is empty"},
		{"bad PDP URL", []string{"-o", out, "--pdp", "127.0.0.1:8181"}, "http:// or https://"},
		{"unknown control", []string{"-o", out, "--controls", "AG-NOPE-001"}, "unknown control"},
		{"missing kubeconfig", []string{"-o", out, "--kubeconfig", filepath.Join(tmp, "nope")}, "--kubeconfig"},
		{"unreachable cluster", []string{"-o", out, "--kubeconfig", deadCluster}, "cannot reach the cluster"},
		{"missing CA file", []string{"-o", out, "--pdp-ca-file", filepath.Join(tmp, "nope.pem")}, "--pdp-ca-file"},
		{"CA file without PEM", []string{"-o", out, "--pdp-ca-file", emptyToken}, "no PEM certificate"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := runCLI(t, append([]string{"conformance", "run"}, tt.args...)...)
			if exitCode(err) != 2 || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("exit %d (%v), want 2 with %q", exitCode(err), err, tt.want)
			}
		})
	}
}
