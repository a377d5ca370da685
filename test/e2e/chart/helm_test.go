package chart

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// The release the tests render and install: with this name the objects get
// the names agentguard's flags and the conformance suite default to.
const (
	release     = "agentguard"
	namespace   = "agentguard-system"
	kubeVersion = "1.37.2"
)

// repoRoot is the module root, found from this file's location.
func repoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the test source")
	}
	return filepath.Join(filepath.Dir(file), "..", "..", "..")
}

func chartDir(t *testing.T) string { return filepath.Join(repoRoot(t), "charts", "agentguard") }

// helmBin is $HELM or bin/helm.
func helmBin(t *testing.T) string {
	t.Helper()
	if h := os.Getenv("HELM"); h != "" {
		return h
	}
	h := filepath.Join(repoRoot(t), "bin", "helm")
	if _, err := os.Stat(h); err != nil {
		t.Fatalf("helm not found at %s: run `make test` (it installs the pinned helm) or `make bin/helm`, or set $HELM: %v", h, err)
	}
	return h
}

// helm runs helm with its config, cache and data directories in a temporary
// directory, so tests neither read nor write the user's.
func helm(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	home := t.TempDir()
	cmd := exec.Command(helmBin(t), args...)
	cmd.Env = append(os.Environ(),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"))
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	return out.String(), errb.String(), err
}

// valuesFiles lists testdata/values/*.yaml by case name.
func valuesFiles(t *testing.T) map[string]string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "values", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no values files in testdata/values: %v", err)
	}
	out := map[string]string{}
	for _, f := range files {
		out[strings.TrimSuffix(filepath.Base(f), ".yaml")] = f
	}
	return out
}

// render runs helm template for one values file (plus --set style args).
func render(t *testing.T, valuesFile string, extra ...string) []byte {
	t.Helper()
	args := append([]string{"template", release, chartDir(t), "--namespace", namespace,
		"--kube-version", kubeVersion, "--include-crds", "-f", valuesFile}, extra...)
	out, stderr, err := helm(t, args...)
	if err != nil {
		t.Fatalf("helm template -f %s: %v\n%s", valuesFile, err, stderr)
	}
	return []byte(out)
}

// objects decodes the rendered documents.
func objects(t *testing.T, data []byte) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			t.Fatalf("decode rendered manifests: %v", err)
		}
		if len(m) == 0 {
			continue
		}
		out = append(out, &unstructured.Unstructured{Object: m})
	}
	return out
}

func runtimeCaller() (uintptr, string, int, bool) { return runtime.Caller(0) }
