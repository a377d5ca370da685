package pdp_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentguard/agentguard/pdp"
)

// defaultSource reads the default bundle, for tests to alter.
func defaultSource(t testing.TB) pdp.Source {
	t.Helper()
	src, err := pdp.ReadDir("../policies")
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// TestLoadRefusesInvalidBundles checks that every kind of bundle problem
// refuses the whole bundle with an error naming the file (and line).
func TestLoadRefusesInvalidBundles(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		alter  func(*pdp.Source)
		wantIn []string // substrings of the error
	}{
		{
			name: "parse error names file and line",
			alter: func(s *pdp.Source) {
				s.Policies = append(s.Policies, pdp.File{Name: "pdp/bad.cedar", Data: []byte("@id(\"x\")\npermit (principal, action, resource)\nwhen { principal.  };\n")})
			},
			wantIn: []string{"pdp/bad.cedar:3"},
		},
		{
			name: "policy without @id",
			alter: func(s *pdp.Source) {
				s.Policies = append(s.Policies, pdp.File{Name: "pdp/noid.cedar", Data: []byte("\n\npermit (principal, action, resource);\n")})
			},
			wantIn: []string{"pdp/noid.cedar:3", "@id"},
		},
		{
			name: "duplicate @id names both places",
			alter: func(s *pdp.Source) {
				s.Policies = append(s.Policies, pdp.File{Name: "pdp/dup.cedar", Data: []byte(`@id("forbid-cross-tenant") forbid (principal, action, resource);`)})
			},
			wantIn: []string{"pdp/dup.cedar:1", `"forbid-cross-tenant" already used at pdp/tools.cedar:`},
		},
		{
			name: "policy using an undeclared attribute",
			alter: func(s *pdp.Source) {
				s.Policies = append(s.Policies, pdp.File{Name: "pdp/attr.cedar", Data: []byte("@id(\"uses-missing-attr\")\npermit (principal is Agent, action == Action::\"call_tool\", resource is Tool)\nwhen { principal.clearance > 3 };\n")})
			},
			wantIn: []string{"pdp/attr.cedar:1", "uses-missing-attr", "clearance"},
		},
		{
			name: "policy on an unknown action",
			alter: func(s *pdp.Source) {
				s.Policies = append(s.Policies, pdp.File{Name: "pdp/act.cedar", Data: []byte(`@id("bad-action") permit (principal, action == Action::"delete_everything", resource);`)})
			},
			wantIn: []string{"pdp/act.cedar:1", "bad-action"},
		},
		{
			name: "entity that does not conform",
			alter: func(s *pdp.Source) {
				s.Entities = &pdp.File{Name: "pdp/entities.json", Data: []byte(`[{"uid":{"type":"Tool","id":"t"},"attrs":{"sensitivity":3},"parents":[]}]`)}
			},
			wantIn: []string{"pdp/entities.json", `Tool::"t"`},
		},
		{
			name: "entity of an undeclared type",
			alter: func(s *pdp.Source) {
				s.Entities = &pdp.File{Name: "pdp/entities.json", Data: []byte(`[{"uid":{"type":"Robot","id":"r"},"attrs":{},"parents":[]}]`)}
			},
			wantIn: []string{"pdp/entities.json", `Robot::"r"`},
		},
		{
			name: "entities not an array",
			alter: func(s *pdp.Source) {
				s.Entities = &pdp.File{Name: "pdp/entities.json", Data: []byte(`{"uid":1}`)}
			},
			wantIn: []string{"pdp/entities.json", "JSON array"},
		},
		{
			name: "mapping to an unknown type",
			alter: func(s *pdp.Source) {
				s.Mapping = &pdp.File{Name: "pdp/mapping.yaml", Data: []byte("subjectTypes:\n  agent: Robot\n")}
			},
			wantIn: []string{"pdp/mapping.yaml", "Robot"},
		},
		{
			name: "mapping with an unknown field",
			alter: func(s *pdp.Source) {
				s.Mapping = &pdp.File{Name: "pdp/mapping.yaml", Data: []byte("subjectTypes:\n  agent: Agent\nactionz: {}\n")}
			},
			wantIn: []string{"pdp/mapping.yaml", "actionz"},
		},
		{
			name: "grantable with an unmapped action and a bad duration",
			alter: func(s *pdp.Source) {
				s.Grants = &pdp.File{Name: "pdp/grants.yaml", Data: []byte("grantable:\n- name: x\n  actions: [fly]\n  resourceType: tool\n  resources: [\"a/*\"]\n  maxDuration: 48h\n  approval: auto\n")}
			},
			wantIn: []string{"pdp/grants.yaml", `"fly" is not a mapped action`, "maxDuration"},
		},
		{
			name: "human grantable without a known approver group",
			alter: func(s *pdp.Source) {
				s.Grants = &pdp.File{Name: "pdp/grants.yaml", Data: []byte("grantable:\n- name: x\n  actions: [call_tool]\n  resourceType: tool\n  resources: [\"[\"]\n  maxDuration: 1h\n  approval: human\n  approverGroup: nobody\n")}
			},
			wantIn: []string{"pdp/grants.yaml", `Group::"nobody"`, "bad pattern"},
		},
		{
			name: "grantable with an unknown field",
			alter: func(s *pdp.Source) {
				s.Grants = &pdp.File{Name: "pdp/grants.yaml", Data: []byte("grantables: []\n")}
			},
			wantIn: []string{"pdp/grants.yaml", "grantables"},
		},
		{
			name: "schema syntax error",
			alter: func(s *pdp.Source) {
				s.Schema = pdp.File{Name: "pdp/schema.cedarschema", Data: []byte("entity Agent {\n  tenant: ,\n};\n")}
			},
			wantIn: []string{"pdp/schema.cedarschema"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src := defaultSource(t)
			tt.alter(&src)
			eng, err := pdp.New(src, pdp.Options{})
			if err == nil {
				t.Fatalf("bundle accepted (%d policies), want refusal", eng.PolicyCount())
			}
			var le *pdp.LoadError
			if !errors.As(err, &le) {
				t.Errorf("error %v is not a *pdp.LoadError", err)
			}
			for _, want := range tt.wantIn {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
		})
	}
}

func TestReadDirWantsOneSchema(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "pdp"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := pdp.Load(dir, pdp.Options{}); err == nil || !strings.Contains(err.Error(), "cedarschema") {
		t.Fatalf("err = %v, want a complaint about the missing schema", err)
	}
	if _, err := pdp.Load(filepath.Join(dir, "nope"), pdp.Options{}); err == nil {
		t.Fatal("missing bundle accepted")
	}
}

func TestRevisionFromManifest(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS("../policies")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ".manifest"), []byte(`{"revision":"v42"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	eng, err := pdp.Load(dir, pdp.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := eng.Revision(); got != "v42" {
		t.Errorf("revision = %q, want v42", got)
	}
	if err := os.Remove(filepath.Join(dir, ".manifest")); err != nil {
		t.Fatal(err)
	}
	plain, err := pdp.Load(dir, pdp.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(plain.Revision(), "sha256:") {
		t.Errorf("revision without manifest = %q, want a content hash", plain.Revision())
	}
}
