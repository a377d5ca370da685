package registry

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/cedar-policy/cedar-go/types"
	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func sa(ns, name string, labels, annotations map[string]string) *corev1.ServiceAccount {
	if labels == nil {
		labels = map[string]string{}
	}
	if _, ok := labels[LabelAgent]; !ok {
		labels[LabelAgent] = name
	}
	return &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels, Annotations: annotations}}
}

func namespace(name, tenant string) *corev1.Namespace {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/metadata.name": name}}}
	if tenant != "" {
		ns.Labels[LabelTenant] = tenant
	}
	return ns
}

func tool(id string) types.EntityUID { return types.NewEntityUID(ToolType, types.String(id)) }

func tenant(id string) types.EntityUID { return types.NewEntityUID(TenantType, types.String(id)) }

// entityCmp compares entities by Cedar equality.
var entityCmp = cmp.Comparer(func(a, b types.Entity) bool { return a.Equal(b) })

func TestBuildAgent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		sa            *corev1.ServiceAccount
		ns            *corev1.Namespace
		defaultTenant string
		want          types.Entity
		wantErr       bool
	}{
		{
			name: "all attributes",
			sa: sa("acme-agents", "triage", map[string]string{LabelAgent: "triage", "team": "support"}, map[string]string{
				AnnotationAllowedTools: " github/search_issues,github/create_issue ,, github/search_issues",
				AnnotationOwner:        "alice@acme.example",
				KeyMode:                ModeUserDelegated,
			}),
			ns: namespace("acme-agents", "acme"),
			want: types.Entity{
				UID:     AgentUID("acme-agents", "triage"),
				Parents: types.NewEntityUIDSet(tenant("acme")),
				Attributes: types.NewRecord(types.RecordMap{
					"tenant":         tenant("acme"),
					"allowedTools":   types.NewSet(tool("github/create_issue"), tool("github/search_issues")),
					"mode":           types.String(ModeUserDelegated),
					"namespace":      types.String("acme-agents"),
					"serviceAccount": types.String("triage"),
					"owner":          types.String("alice@acme.example"),
				}),
				Tags: types.NewRecord(types.RecordMap{LabelAgent: types.String("triage"), "team": types.String("support")}),
			},
		},
		{
			name: "defaults",
			sa:   sa("ns", "bot", nil, nil),
			ns:   namespace("ns", "globex"),
			want: types.Entity{
				UID:     AgentUID("ns", "bot"),
				Parents: types.NewEntityUIDSet(tenant("globex")),
				Attributes: types.NewRecord(types.RecordMap{
					"tenant": tenant("globex"), "allowedTools": types.NewSet(), "mode": types.String(ModeAutonomous),
					"namespace": types.String("ns"), "serviceAccount": types.String("bot"),
				}),
				Tags: types.NewRecord(types.RecordMap{LabelAgent: types.String("bot")}),
			},
		},
		{
			name: "mode label beats annotation",
			sa:   sa("ns", "bot", map[string]string{KeyMode: ModeAutonomous}, map[string]string{KeyMode: ModeUserDelegated}),
			ns:   namespace("ns", "t"),
			want: types.Entity{
				UID:     AgentUID("ns", "bot"),
				Parents: types.NewEntityUIDSet(tenant("t")),
				Attributes: types.NewRecord(types.RecordMap{
					"tenant": tenant("t"), "allowedTools": types.NewSet(), "mode": types.String(ModeAutonomous),
					"namespace": types.String("ns"), "serviceAccount": types.String("bot"),
				}),
				Tags: types.NewRecord(types.RecordMap{LabelAgent: types.String("bot"), KeyMode: types.String(ModeAutonomous)}),
			},
		},
		{
			name: "default tenant", sa: sa("ns", "bot", nil, nil), ns: namespace("ns", ""), defaultTenant: "shared",
			want: types.Entity{
				UID:     AgentUID("ns", "bot"),
				Parents: types.NewEntityUIDSet(tenant("shared")),
				Attributes: types.NewRecord(types.RecordMap{
					"tenant": tenant("shared"), "allowedTools": types.NewSet(), "mode": types.String(ModeAutonomous),
					"namespace": types.String("ns"), "serviceAccount": types.String("bot"),
				}),
				Tags: types.NewRecord(types.RecordMap{LabelAgent: types.String("bot")}),
			},
		},
		{name: "no tenant", sa: sa("ns", "bot", nil, nil), ns: namespace("ns", ""), wantErr: true},
		{name: "namespace not seen yet", sa: sa("ns", "bot", nil, nil), wantErr: true},
		{name: "empty tenant label", sa: sa("ns", "bot", nil, nil), ns: &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ns", Labels: map[string]string{LabelTenant: ""}}}, defaultTenant: "shared", wantErr: true},
		{name: "unknown mode", sa: sa("ns", "bot", nil, map[string]string{KeyMode: "godmode"}), ns: namespace("ns", "t"), wantErr: true},
		{name: "bad tool id", sa: sa("ns", "bot", nil, map[string]string{AnnotationAllowedTools: "a b"}), ns: namespace("ns", "t"), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := buildAgent(tt.sa, tt.ns, tt.defaultTenant)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("no error; got %v", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, entityCmp); diff != "" {
				t.Errorf("entity (-want +got):\n%s", diff)
			}
		})
	}
}

func readSchema(t *testing.T, path ...string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(path...))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// defaultSchema is the default bundle's schema: the registry's entities must
// validate against it.
func defaultSchema(t *testing.T) []byte {
	return readSchema(t, "..", "..", "policies", "pdp", "schema.cedarschema")
}

func TestConform(t *testing.T) {
	t.Parallel()
	full, err := buildAgent(sa("acme-agents", "triage", map[string]string{"team": "support"}, map[string]string{
		AnnotationAllowedTools: "github/search_issues", AnnotationOwner: "alice",
	}), namespace("acme-agents", "acme"), "")
	if err != nil {
		t.Fatal(err)
	}

	t.Run("default bundle schema", func(t *testing.T) {
		c, err := newConformer(defaultSchema(t))
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.conform(full)
		if err != nil {
			t.Fatal(err)
		}
		want := types.Entity{
			UID:     AgentUID("acme-agents", "triage"),
			Parents: types.NewEntityUIDSet(tenant("acme")),
			Attributes: types.NewRecord(types.RecordMap{
				"tenant": tenant("acme"), "allowedTools": types.NewSet(tool("github/search_issues")), "mode": types.String(ModeAutonomous),
			}),
		}
		if diff := cmp.Diff(want, got, entityCmp); diff != "" {
			t.Errorf("entity (-want +got):\n%s", diff)
		}
	})
	t.Run("extended schema keeps everything", func(t *testing.T) {
		c, err := newConformer(readSchema(t, "testdata", "extended.cedarschema"))
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.conform(full)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(full, got, entityCmp); diff != "" {
			t.Errorf("entity (-want +got):\n%s", diff)
		}
	})
	t.Run("schema needing an attribute the registry lacks", func(t *testing.T) {
		c, err := newConformer(readSchema(t, "testdata", "needs-team.cedarschema"))
		if err != nil {
			t.Fatal(err)
		}
		if got, err := c.conform(full); err == nil {
			t.Errorf("conformed: %v", got)
		}
	})
	t.Run("bad schemas", func(t *testing.T) {
		for _, s := range []string{"entity", "entity Tenant;", "entity Agent in [Nope];"} {
			if _, err := newConformer([]byte(s)); err == nil {
				t.Errorf("newConformer(%q) succeeded", s)
			}
		}
	})
}

func FuzzParseTools(f *testing.F) {
	f.Add("a/b, c/d")
	f.Add(",,")
	f.Add("a b")
	f.Fuzz(func(t *testing.T, s string) {
		tools, err := parseTools(s)
		if err != nil {
			return
		}
		for _, v := range tools {
			uid := v.(types.EntityUID)
			if uid.Type != ToolType || uid.ID == "" {
				t.Fatalf("bad tool %v from %q", uid, s)
			}
		}
	})
}
