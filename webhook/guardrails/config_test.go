package guardrails

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/api/resource"
)

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		wantErr []string // substrings of the error; empty means valid
	}{
		{name: "empty document gets defaults", yaml: ""},
		{name: "unknown top-level field", yaml: "defaultMod: warn", wantErr: []string{`unknown field "defaultMod"`}},
		{name: "unknown nested field", yaml: "agents:\n  bot:\n    serviceacount: bot", wantErr: []string{`unknown field "agents.bot.serviceacount"`}},
		{name: "bad mode", yaml: "defaultMode: block", wantErr: []string{`defaultMode: mode "block"`}},
		{name: "unknown check in modes", yaml: "modes:\n  resourcez: warn", wantErr: []string{"modes.resourcez: unknown check name"}},
		{name: "psa check in modes", yaml: "modes:\n  psa.runAsUser: audit\n  AG-GEN-201: warn\n  CORP-7: audit"},
		{name: "several errors reported together", yaml: "scope: some\ntokens: {maxExpirationSeconds: 60}\nkind: Other",
			wantErr: []string{`kind "Other"`, `scope "some"`, "tokens.maxExpirationSeconds 60"}},
		{name: "default limit below default request", yaml: "resources:\n  defaultRequests: {memory: 1Gi}\n  defaultLimits: {memory: 512Mi}",
			wantErr: []string{"resources.defaultLimits.memory: 512Mi is below the default request 1Gi"}},
		{name: "default service account", yaml: "agents:\n  bot: {serviceAccount: default}", wantErr: []string{`agents.bot.serviceAccount: "default"`}},
		{name: "shared service account", yaml: "agents:\n  a: {serviceAccount: sa}\n  b: {serviceAccount: sa}", wantErr: []string{`already registered to agent "a"`}},
		{name: "unknown tenant", yaml: "tenants: {t1: {}}\nagents:\n  a: {tenant: t2}", wantErr: []string{`agents.a.tenant "t2"`}},
		{name: "bad secret ref", yaml: "agents:\n  a: {secrets: [\"Not_A_Name\"]}", wantErr: []string{"agents.a.secrets[0]"}},
		{name: "bad placement", yaml: "tenants:\n  t:\n    nodeSelector: {\"bad key!\": x}\n    tolerations: [{operator: Exists}]\n    runtimeClassName: Not_Valid",
			wantErr: []string{"tenants.t.nodeSelector.bad key!", "tenants.t.tolerations[0]", `tenants.t.runtimeClassName "Not_Valid"`}},
		{name: "bad quantity", yaml: "tenants: {t: {maxPerContainer: {cpu: lots}}}", wantErr: []string{"quantities must match"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseConfig([]byte(tt.yaml))
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted: %+v", c)
			}
			if !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("error %v is not ErrInvalidConfig", err)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestDefaultConfig(t *testing.T) {
	c := DefaultConfig()
	got := map[string]string{
		"systemNamespace": c.SystemNamespace, "scope": c.Scope, "defaultMode": string(c.DefaultMode),
		"cpu": c.Resources.DefaultRequests.Cpu().String(), "memory": c.Resources.DefaultRequests.Memory().String(),
		"limit": c.Resources.DefaultLimits.Memory().String(),
	}
	want := map[string]string{"systemNamespace": "agentguard-system", "scope": "agents", "defaultMode": "enforce", "cpu": "100m", "memory": "128Mi", "limit": "256Mi"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
	if c.Tokens.MaxExpirationSeconds != 3600 || !cmp.Equal(c.AdminGroups, []string{"system:masters"}) {
		t.Errorf("tokens/admins: %+v %v", c.Tokens, c.AdminGroups)
	}
	_ = resource.Quantity{}
}

func TestLoadBundle(t *testing.T) {
	good := "package agentguard.admission\n\ndeny contains {\"id\": \"X-1\", \"msg\": \"no\"} if input.kind == \"Nope\"\n"
	tests := []struct {
		name    string
		files   fstest.MapFS
		wantErr error
		errText string
	}{
		{name: "empty bundle uses defaults", files: fstest.MapFS{}},
		{name: "config and rule", files: fstest.MapFS{
			"admission/config.yaml":    {Data: []byte("scope: all\n")},
			"admission/rule.rego":      {Data: []byte(good)},
			"admission/rule_test.rego": {Data: []byte("package agentguard.admission_test\n")},
		}},
		{name: "invalid config refused", files: fstest.MapFS{"admission/config.yaml": {Data: []byte("bogus: 1\n")}}, wantErr: ErrInvalidConfig, errText: "admission/config.yaml"},
		{name: "rego syntax error", files: fstest.MapFS{"admission/r.rego": {Data: []byte("package agentguard.admission\ndeny contains x if {")}}, wantErr: ErrInvalidRules},
		{name: "wrong package", files: fstest.MapFS{"admission/r.rego": {Data: []byte("package other\n")}}, wantErr: ErrInvalidRules, errText: "want package agentguard.admission"},
		{name: "compile error", files: fstest.MapFS{"admission/r.rego": {Data: []byte("package agentguard.admission\ndeny contains x if { x := undefined_fn(1) }\n")}}, wantErr: ErrInvalidRules},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := LoadBundleFS(context.Background(), tt.files, "b")
			if tt.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				if e.Revision() == "" {
					t.Error("no revision")
				}
				return
			}
			if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.errText) {
				t.Fatalf("error %v, want %v containing %q", err, tt.wantErr, tt.errText)
			}
		})
	}
}

// TestDefaultBundle loads the shipped policies/ bundle.
func TestDefaultBundle(t *testing.T) {
	dir := filepath.Join("..", "..", "policies")
	if _, err := os.Stat(filepath.Join(dir, ConfigFile)); err != nil {
		t.Fatalf("default bundle: %v", err)
	}
	e, err := LoadBundle(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if !e.HasRules() || len(e.Config().AllowedRegistries) == 0 {
		t.Errorf("default bundle: rules=%v registries=%v", e.HasRules(), e.Config().AllowedRegistries)
	}

}

func TestRegoRules(t *testing.T) {
	tests := []struct {
		name   string
		rule   string
		want   []Violation
		denied bool
	}{
		{
			name: "deny with id and message",
			rule: `deny contains {"id": "CORP-001", "msg": sprintf("container %q is called app", [c.name])} if { some c in input.pod.spec.containers; c.name == "app" }`,
			want: []Violation{{ID: "CORP-001", Check: "rego", Message: `[CORP-001] container "app" is called app`, Mode: ModeEnforce}}, denied: true,
		},
		{
			name: "input carries namespace, agent and tenant",
			rule: `deny contains {"id": "CORP-002", "msg": "[CORP-002] ok"} if { input.namespace.labels["agentguard.io/tenant"] == "team-a"; input.agent == "bot"; input.tenant == "team-a"; input.isAgent }`,
			want: []Violation{{ID: "CORP-002", Check: "rego", Message: "[CORP-002] ok", Mode: ModeEnforce}}, denied: true,
		},
		{name: "no match", rule: `deny contains {"id": "CORP-003", "msg": "x"} if input.kind == "Secret"`},
		{
			name: "runtime error fails closed",
			rule: `deny contains {"id": "CORP-004", "msg": "x"} if to_number(input.pod.metadata.name) > 1`,
			want: []Violation{{ID: RuleErrorID, Check: "rego", Mode: ModeEnforce}}, denied: true,
		},
		{
			name: "malformed deny element fails closed",
			rule: `deny contains "just a string" if true`,
			want: []Violation{{ID: RuleErrorID, Check: "rego", Mode: ModeEnforce}}, denied: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := New(context.Background(), Options{Config: DefaultConfig(), Rules: map[string]string{"r.rego": "package agentguard.admission\n\n" + tt.rule + "\n"}})
			if err != nil {
				t.Fatal(err)
			}
			p := goodPod()
			p.Spec.ServiceAccountName = "bot"
			d := e.Evaluate(context.Background(), podInput(p, tenantA))
			opt := cmp.Options{}
			if len(tt.want) > 0 && tt.want[0].Message == "" {
				opt = cmp.Options{cmpIgnoreMessage}
			}
			if diff := cmp.Diff(tt.want, d.Violations, opt); diff != "" {
				t.Errorf("violations (-want +got):\n%s", diff)
			}
			if d.Allowed == tt.denied {
				t.Errorf("allowed = %v", d.Allowed)
			}
			if len(tt.want) > 0 && tt.want[0].ID == RuleErrorID && !strings.Contains(d.Violations[0].Message, "fail closed") {
				t.Errorf("message %q", d.Violations[0].Message)
			}
		})
	}
}
