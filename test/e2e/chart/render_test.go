package chart

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"
)

func TestLint(t *testing.T) {
	for name, file := range valuesFiles(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			out, stderr, err := helm(t, "lint", "--strict", chartDir(t), "--kube-version", kubeVersion, "--namespace", namespace, "-f", file)
			if err != nil {
				t.Fatalf("helm lint: %v\n%s%s", err, out, stderr)
			}
		})
	}
}

// generatedKey matches the grant signing key the chart generates at install
// (random, so masked in the golden files).
var generatedKey = regexp.MustCompile(`(?m)^(  grant-signing-key\.pem: )(\S+)$`)

func TestGolden(t *testing.T) {
	for name, file := range valuesFiles(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got := render(t, file)
			for _, m := range generatedKey.FindAllSubmatch(got, -1) {
				checkEd25519Key(t, string(m[2]))
			}
			got = generatedKey.ReplaceAll(got, []byte("${1}<generated at install>"))
			golden := filepath.Join("testdata", "golden", name+".yaml")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if d := cmp.Diff(string(want), string(got)); d != "" {
				t.Errorf("helm template differs from %s (go test -update rewrites it); -want +got:\n%s", golden, d)
			}
		})
	}
}

// checkEd25519Key checks the generated key is what --grant-signing-key reads:
// an Ed25519 key in PKCS#8 PEM.
func checkEd25519Key(t *testing.T, b64 string) {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatalf("generated grant signing key: %v", err)
	}
	blk, _ := pem.Decode(raw)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		t.Fatalf("generated grant signing key is not a PKCS#8 PEM block: %q", raw)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		t.Fatalf("generated grant signing key: %v", err)
	}
	if _, ok := k.(ed25519.PrivateKey); !ok {
		t.Fatalf("generated grant signing key is %T, want Ed25519", k)
	}
}

// TestCRDsInSync: the chart ships the generated CRD unchanged.
func TestCRDsInSync(t *testing.T) {
	gen, err := filepath.Glob(filepath.Join(repoRoot(t), "config", "crd", "*.yaml"))
	if err != nil || len(gen) == 0 {
		t.Fatalf("no generated CRDs in config/crd: %v", err)
	}
	shipped, _ := filepath.Glob(filepath.Join(chartDir(t), "crds", "*.yaml"))
	if len(shipped) != len(gen) {
		t.Errorf("chart has %d CRDs, config/crd %d", len(shipped), len(gen))
	}
	for _, g := range gen {
		want, err := os.ReadFile(g)
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(chartDir(t), "crds", filepath.Base(g)))
		if err != nil {
			t.Fatalf("%v (copy config/crd into charts/agentguard/crds after make generate)", err)
		}
		if string(got) != string(want) {
			t.Errorf("charts/agentguard/crds/%s differs from config/crd (copy it after make generate)", filepath.Base(g))
		}
	}
}

// TestSchemaCoversValues: every value in values.yaml is described in
// values.schema.json, and the schema allows nothing else.
func TestSchemaCoversValues(t *testing.T) {
	var values map[string]any
	data, err := os.ReadFile(filepath.Join(chartDir(t), "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, &values); err != nil {
		t.Fatal(err)
	}
	var schema map[string]any
	data, err = os.ReadFile(filepath.Join(chartDir(t), "values.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &schema); err != nil {
		t.Fatal(err)
	}
	var missing []string
	var walk func(path string, v map[string]any, s map[string]any)
	walk = func(path string, v map[string]any, s map[string]any) {
		if s["type"] == "object" && s["properties"] != nil && s["additionalProperties"] != false {
			missing = append(missing, path+": schema object allows unknown keys")
		}
		props, _ := s["properties"].(map[string]any)
		for k, val := range v {
			ps, ok := props[k].(map[string]any)
			if !ok {
				if _, free := s["properties"]; free {
					missing = append(missing, path+"."+k)
				}
				continue
			}
			if d, _ := ps["description"].(string); d == "" {
				missing = append(missing, path+"."+k+": no description")
			}
			if sub, ok := val.(map[string]any); ok && ps["properties"] != nil {
				walk(path+"."+k, sub, ps)
			}
		}
	}
	walk("", values, schema)
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("values.schema.json does not cover:\n  %s", strings.Join(missing, "\n  "))
	}
}

// TestRefusedValues: helm refuses values that would install an insecure or
// broken agentguard, before anything reaches the cluster.
func TestRefusedValues(t *testing.T) {
	defaults := filepath.Join("testdata", "values", "defaults.yaml")
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"no bundle source", []string{"--set", "bundle.source="}, "bundle.source is required"},
		{"no bundle keys", []string{"--set", "bundle.publicKeys=null"}, "bundle.publicKeys is required"},
		{"timeout above 5s", []string{"--set", "webhook.timeoutSeconds=10"}, "timeoutSeconds"},
		{"unknown failure policy", []string{"--set", "webhook.failurePolicy=Sometimes"}, "failurePolicy"},
		{"unknown scope", []string{"--set", "webhook.scope=some"}, "scope"},
		{"unknown value", []string{"--set", "webhook.replica=3"}, "replica"},
		{"bolt store with replicas", []string{"--set", "pdp.grants.store=bolt"}, "pdp.grants.store=bolt"},
		{"PDP TLS without a certificate", []string{"--set", "pdp.tls.enabled=true"}, "pdp.tls.enabled needs"},
		{"HPA max below min", []string{"--set", "pdp.autoscaling.maxReplicas=1"}, "maxReplicas"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"template", release, chartDir(t), "--namespace", namespace, "--kube-version", kubeVersion, "-f", defaults}, c.args...)
			_, stderr, err := helm(t, args...)
			if err == nil {
				t.Fatalf("helm template %v succeeded", c.args)
			}
			if !strings.Contains(stderr, c.want) {
				t.Errorf("error does not mention %q:\n%s", c.want, stderr)
			}
		})
	}
}
