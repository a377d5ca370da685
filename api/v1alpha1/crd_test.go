package v1alpha1

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"
)

const crdFile = "agentguard.io_agentgrants.yaml"

var crdDir = filepath.Join("..", "..", "config", "crd")

func loadCRD(t *testing.T) *apiextensionsv1.CustomResourceDefinition {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(crdDir, crdFile))
	if err != nil {
		t.Fatal(err)
	}
	var crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.UnmarshalStrict(data, &crd); err != nil {
		t.Fatalf("parse %s: %v", crdFile, err)
	}
	return &crd
}

// The checked-in CRD names this package's group, version and kind.
func TestCRDNamesTheGoTypes(t *testing.T) {
	t.Parallel()
	crd := loadCRD(t)
	if want := "agentgrants." + GroupVersion.Group; crd.Name != want {
		t.Errorf("CRD name %q, want %q", crd.Name, want)
	}
	s := crd.Spec
	if s.Group != GroupVersion.Group || s.Scope != apiextensionsv1.NamespaceScoped {
		t.Errorf("group %q scope %q, want %q Namespaced", s.Group, s.Scope, GroupVersion.Group)
	}
	kind := reflect.TypeFor[AgentGrant]().Name()
	if s.Names.Kind != kind || s.Names.ListKind != reflect.TypeFor[AgentGrantList]().Name() || s.Names.Plural != "agentgrants" {
		t.Errorf("names %+v, want kind %s", s.Names, kind)
	}
	if len(s.Versions) != 1 || s.Versions[0].Name != GroupVersion.Version || !s.Versions[0].Served || !s.Versions[0].Storage {
		t.Fatalf("versions %+v, want %s only, served and stored", s.Versions, GroupVersion.Version)
	}
	if sub := s.Versions[0].Subresources; sub != nil && sub.Status != nil {
		t.Error("status subresource enabled: the store writes spec and status in one update")
	}
}

// The CRD's schema has exactly the Go types' fields, required where the
// Go field is not omitempty, and the enum of GrantState: a check that the
// manifest was regenerated after the types changed, which needs no
// controller-gen.
func TestCRDSchemaMatchesTheGoTypes(t *testing.T) {
	t.Parallel()
	v := loadCRD(t).Spec.Versions[0]
	root := v.Schema.OpenAPIV3Schema
	compareSchema(t, "spec", reflect.TypeFor[AgentGrantSpec](), root.Properties["spec"])
	compareSchema(t, "status", reflect.TypeFor[AgentGrantStatus](), root.Properties["status"])
	if diff := cmp.Diff([]string{"spec", "status"}, root.Required); diff != "" {
		t.Errorf("top-level required (-want +got):\n%s", diff)
	}

	var enum []string
	for _, e := range root.Properties["status"].Properties["state"].Enum {
		enum = append(enum, strings.Trim(string(e.Raw), `"`))
	}
	states := []GrantState{StatePending, StateApproved, StateDenied, StateExpired, StateCancelled, StateRevoked}
	var want []string
	for _, s := range states {
		want = append(want, string(s))
	}
	if diff := cmp.Diff(want, enum); diff != "" {
		t.Errorf("status.state enum (-want +got):\n%s", diff)
	}

	for _, c := range v.AdditionalPrinterColumns {
		if !strings.HasPrefix(c.JSONPath, ".metadata.") && lookup(root, c.JSONPath) == nil {
			t.Errorf("printer column %s: %s is not in the schema", c.Name, c.JSONPath)
		}
	}
}

func compareSchema(t *testing.T, path string, typ reflect.Type, p apiextensionsv1.JSONSchemaProps) {
	t.Helper()
	switch typ.Kind() {
	case reflect.Struct:
		var fields, required []string
		for f := range typ.Fields() {
			name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
			fields = append(fields, name)
			if !strings.Contains(opts, "omitempty") {
				required = append(required, name)
			}
			sub, ok := p.Properties[name]
			if !ok {
				t.Errorf("%s.%s: in the Go type, not in the CRD", path, name)
				continue
			}
			compareSchema(t, path+"."+name, f.Type, sub)
		}
		for name := range p.Properties {
			if !slices.Contains(fields, name) {
				t.Errorf("%s.%s: in the CRD, not in the Go type", path, name)
			}
		}
		slices.Sort(required)
		got := slices.Sorted(slices.Values(p.Required))
		if diff := cmp.Diff(required, got); diff != "" {
			t.Errorf("%s required (-Go +CRD):\n%s", path, diff)
		}
	case reflect.Slice:
		if p.Type != "array" || p.Items == nil || p.Items.Schema == nil {
			t.Errorf("%s: CRD type %q, want an array", path, p.Type)
			return
		}
		compareSchema(t, path+"[]", typ.Elem(), *p.Items.Schema)
	case reflect.String:
		if p.Type != "string" {
			t.Errorf("%s: CRD type %q, want string", path, p.Type)
		}
		if typ == reflect.TypeFor[Timestamp]() && p.Format != "date-time" {
			t.Errorf("%s: CRD format %q, want date-time", path, p.Format)
		}
	default:
		t.Errorf("%s: no schema check for Go kind %s", path, typ.Kind())
	}
}

// lookup follows a simple JSONPath (.a.b) through the schema.
func lookup(p *apiextensionsv1.JSONSchemaProps, path string) *apiextensionsv1.JSONSchemaProps {
	for _, part := range strings.Split(strings.TrimPrefix(path, "."), ".") {
		sub, ok := p.Properties[part]
		if !ok {
			return nil
		}
		p = &sub
	}
	return p
}

// When controller-gen is installed (`make generate` installs it into
// bin/), the checked-in CRD and deepcopy code are byte for byte what it
// generates now.
func TestGeneratedFilesAreCurrent(t *testing.T) {
	gen, err := filepath.Abs(filepath.Join("..", "..", "bin", "controller-gen"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(gen); err != nil {
		t.Skip("bin/controller-gen not installed (`make generate` installs it); the schema comparison above still ran")
	}
	out := t.TempDir()
	cmd := exec.CommandContext(t.Context(), gen, "object", "paths=./api/...", "output:object:dir="+out,
		"crd", "paths=./api/...", "output:crd:dir="+out)
	cmd.Dir = filepath.Join("..", "..")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("controller-gen: %v\n%s", err, msg)
	}
	for generated, checkedIn := range map[string]string{
		filepath.Join(out, crdFile):                    filepath.Join(crdDir, crdFile),
		filepath.Join(out, "zz_generated.deepcopy.go"): "zz_generated.deepcopy.go",
	} {
		want, err := os.ReadFile(generated)
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(checkedIn)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(want, got) {
			t.Errorf("%s is stale: run `make generate`", checkedIn)
		}
	}
}
