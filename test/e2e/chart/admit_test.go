package chart

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	"github.com/agentguard/agentguard/webhook"
	"github.com/agentguard/agentguard/webhook/guardrails"
)

// scopeAllBundle copies the default bundle (policies/) with the admission
// scope set to "all", so the container guardrails (AG-GEN-*) apply to every
// pod, not only to agents.
func scopeAllBundle(t *testing.T) string {
	t.Helper()
	src := filepath.Join(repoRoot(t), "policies")
	dst := t.TempDir()
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dst, "admission", "config.yaml")
	data, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		t.Fatal(err)
	}
	cfg["scope"] = "all"
	if data, err = yaml.Marshal(cfg); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfgPath, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return dst
}

// TestOwnGuardrails runs agentguard's own Deployments through its admission
// path (what `agentguard admit` does) with the default bundle: agentguard
// passes its own guardrails.
func TestOwnGuardrails(t *testing.T) {
	ctx := context.Background()
	strict, err := guardrails.LoadBundle(ctx, scopeAllBundle(t))
	if err != nil {
		t.Fatal(err)
	}
	rv := &webhook.Reviewer{Offline: true}
	for name, file := range valuesFiles(t) {
		t.Run(name, func(t *testing.T) {
			r := decode(t, objects(t, render(t, file)))
			for _, o := range r.all {
				if o.GetKind() != "Deployment" {
					continue
				}
				raw, err := json.Marshal(o.Object)
				if err != nil {
					t.Fatal(err)
				}
				// Evaluated outside agentguard's own namespace (always exempt),
				// in an ordinary namespace: every container guardrail applies,
				// as written (no mutation) and after mutation.
				req := &webhook.Request{Kind: schema.GroupKind{Group: "apps", Kind: "Deployment"}, Operation: "CREATE",
					Namespace: "platform", Name: o.GetName(), Object: raw,
					NamespaceLabels: map[string]string{"kubernetes.io/metadata.name": "platform"}}
				res, err := rv.Admit(ctx, strict, req, false)
				if err != nil {
					t.Fatal(err)
				}
				if d := res.Decision; d == nil || d.Exempt != "" {
					t.Fatalf("%s was not evaluated (decision %+v)", o.GetName(), d)
				}
				if !res.Allowed() || len(res.Decision.Violations) > 0 {
					t.Errorf("%s violates agentguard's guardrails: %+v", o.GetName(), res.Decision.Violations)
				}
				mres, err := rv.Admit(ctx, strict, req, true)
				if err != nil {
					t.Fatal(err)
				}
				for _, p := range mres.Mutation.Patch {
					t.Errorf("%s: the mutating webhook would change %s %s: the chart should set it", o.GetName(), p.Op, p.Path)
				}

				// As an agent in a tenant namespace, only the agent identity
				// controls remain: agentguard is not an agent (no agent label,
				// it needs the API token and its own Secrets).
				req.NamespaceLabels = map[string]string{"kubernetes.io/metadata.name": "platform", guardrails.LabelTenant: "default"}
				res, err = rv.Admit(ctx, strict, req, false)
				if err != nil {
					t.Fatal(err)
				}
				for _, v := range res.Decision.Violations {
					switch v.ID {
					case "AG-SEC-012", "AG-SEC-004", "AG-SEC-103":
					default:
						t.Errorf("%s as an agent: unexpected violation %s: %s", o.GetName(), v.ID, v.Message)
					}
				}
			}
		})
	}
}
