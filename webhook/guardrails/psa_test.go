package guardrails

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	psaapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
	"sigs.k8s.io/yaml"
)

// psaFixtureDir returns test/testdata/restricted/<latest version> of the
// k8s.io/pod-security-admission module this module builds against.
func psaFixtureDir(t *testing.T) (string, string) {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "k8s.io/pod-security-admission").Output()
	if err != nil {
		t.Fatalf("locate k8s.io/pod-security-admission: %v", err)
	}
	root := filepath.Join(strings.TrimSpace(string(out)), "test", "testdata", "restricted")
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatalf("read PSA fixtures: %v", err)
	}
	var latest psaapi.Version
	for _, e := range entries {
		v, err := psaapi.ParseVersion(e.Name())
		if err != nil {
			continue
		}
		if latest.Older(v) {
			latest = v
		}
	}
	if (latest == psaapi.Version{}) {
		t.Fatalf("no versioned fixtures under %s", root)
	}
	return filepath.Join(root, latest.String()), latest.String()
}

func loadPod(t *testing.T, path string) *corev1.Pod {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{}
	if err := yaml.UnmarshalStrict(data, pod); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return pod
}

// TestPSAParity runs every fixture the pod-security-admission project ships
// for the restricted level at its latest version through agentguard's PSA
// checks and through the upstream evaluator, and requires both to agree with
// the fixture's expected verdict (pass/ or fail/).
func TestPSAParity(t *testing.T) {
	dir, version := psaFixtureDir(t)
	eval, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Scope = "all"
	cfg.Modes = map[string]Mode{}
	e, err := New(context.Background(), Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	lv := psaapi.LevelVersion{Level: psaapi.LevelRestricted, Version: psaapi.LatestVersion()}
	total := 0
	for _, want := range []string{"pass", "fail"} {
		files, err := filepath.Glob(filepath.Join(dir, want, "*.yaml"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no %s fixtures in %s (%v)", want, dir, err)
		}
		for _, f := range files {
			total++
			name := want + "/" + filepath.Base(f)
			t.Run(name, func(t *testing.T) {
				pod := loadPod(t, f)
				// The upstream harness creates these pods on a real API
				// server, which defaults them first.
				DefaultPodSpec(&pod.Spec)
				upstream := policy.AggregateCheckResults(eval.EvaluatePod(lv, &pod.ObjectMeta, &pod.Spec))
				if got := upstream.Allowed; got != (want == "pass") {
					t.Fatalf("upstream evaluator allowed=%v for a %s fixture (version %s)", got, want, version)
				}
				d := e.Evaluate(context.Background(), &Input{
					Operation: "CREATE", Kind: "Pod", Namespace: "ns", Name: pod.Name,
					PodMeta: &pod.ObjectMeta, PodSpec: &pod.Spec,
				})
				var psa []Violation
				for _, v := range d.Violations {
					if strings.HasPrefix(v.Check, "psa.") {
						psa = append(psa, v)
					}
				}
				if got := len(psa) == 0; got != (want == "pass") {
					t.Fatalf("agentguard PSA allowed=%v for a %s fixture; violations: %v", got, want, psa)
				}
				// Same failing checks as upstream, one reason per failed check.
				var gotReasons []string
				seen := map[string]bool{}
				for _, v := range psa {
					if !seen[v.Check] {
						seen[v.Check] = true
						gotReasons = append(gotReasons, v.Check)
					}
					if !strings.HasPrefix(v.Message, "["+v.ID+"] ") {
						t.Errorf("message %q does not start with [%s]", v.Message, v.ID)
					}
				}
				var wantChecks []string
				for _, c := range RestrictedChecks() {
					if !c.Fn(&pod.ObjectMeta, &pod.Spec).Allowed {
						wantChecks = append(wantChecks, "psa."+string(c.ID))
					}
				}
				slices.Sort(gotReasons)
				slices.Sort(wantChecks)
				if diff := cmp.Diff(wantChecks, gotReasons); diff != "" {
					t.Errorf("failed checks differ (-upstream +agentguard):\n%s", diff)
				}
				if len(wantChecks) != len(upstream.ForbiddenReasons) {
					t.Errorf("RestrictedChecks found %d failures, upstream evaluator %d (%v)", len(wantChecks), len(upstream.ForbiddenReasons), upstream.ForbiddenReasons)
				}
			})
		}
	}
	if total < 50 {
		t.Errorf("only %d fixtures found; expected the full upstream set", total)
	}
}

// TestPSAChecksMapped requires an explicit control mapping for every check
// the restricted profile runs, and that RestrictedChecks selects the same
// number of checks as the upstream evaluator.
func TestPSAChecksMapped(t *testing.T) {
	checks := RestrictedChecks()
	if len(checks) < 15 {
		t.Fatalf("only %d restricted checks", len(checks))
	}
	for _, c := range checks {
		t.Run(string(c.ID), func(t *testing.T) {
			id, ok := psaMapping(c.ID)
			if !ok {
				t.Fatalf("PSA check %q has no control mapping in psaControl", c.ID)
			}
			if id != "AG-GEN-001" && id != "AG-GEN-002" {
				t.Errorf("PSA check %q maps to %s", c.ID, id)
			}
		})
	}
	for _, c := range policy.DefaultChecks() {
		if _, ok := psaMapping(c.ID); !ok {
			t.Errorf("upstream check %q (level %s) has no control mapping", c.ID, c.Level)
		}
	}
	// The upstream evaluator at latest runs exactly as many checks.
	eval, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		t.Fatal(err)
	}
	lv := psaapi.LevelVersion{Level: psaapi.LevelRestricted, Version: psaapi.LatestVersion()}
	n := len(eval.EvaluatePod(lv, &metav1.ObjectMeta{}, &corev1.PodSpec{}))
	if n != len(checks) {
		t.Errorf("upstream restricted runs %d checks, RestrictedChecks returns %d", n, len(checks))
	}
}

func TestPSAMessages(t *testing.T) {
	root := int64(0)
	yes, no := true, false
	tests := []struct {
		name string
		spec corev1.PodSpec
		want []string // expected message prefixes
	}{
		{
			name: "container runAsUser 0",
			spec: corev1.PodSpec{
				SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: &yes, SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
				Containers: []corev1.Container{{Name: "app", SecurityContext: &corev1.SecurityContext{
					RunAsUser: &root, AllowPrivilegeEscalation: &no, Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
				}}, {Name: "ok", SecurityContext: &corev1.SecurityContext{
					AllowPrivilegeEscalation: &no, Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
				}}},
			},
			want: []string{`[AG-GEN-002] container "app" runs as root (runAsUser=0: container "app" must not set runAsUser=0)`},
		},
		{
			name: "pod hostNetwork and privileged init container",
			spec: corev1.PodSpec{
				HostNetwork:     true,
				SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: &yes, SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
				InitContainers: []corev1.Container{{Name: "init", SecurityContext: &corev1.SecurityContext{
					Privileged: &yes, AllowPrivilegeEscalation: &no, Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
				}}},
				Containers: []corev1.Container{{Name: "app", SecurityContext: &corev1.SecurityContext{
					AllowPrivilegeEscalation: &no, Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
				}}},
			},
			want: []string{`[AG-GEN-001] pod shares host namespaces`, `[AG-GEN-001] init container "init" is privileged`},
		},
	}
	cfg := DefaultConfig()
	cfg.Scope = "all"
	e, err := New(context.Background(), Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := e.Evaluate(context.Background(), &Input{Kind: "Pod", Namespace: "ns", PodSpec: &tt.spec, PodMeta: &metav1.ObjectMeta{}})
			var got []string
			for _, v := range d.Violations {
				if strings.HasPrefix(v.Check, "psa.") {
					got = append(got, v.Message)
				}
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d PSA violations %q, want %d", len(got), got, len(tt.want))
			}
			for i := range got {
				if !strings.HasPrefix(got[i], tt.want[i]) || !strings.Contains(got[i], "; fix: ") {
					t.Errorf("violation %d = %q, want prefix %q and a fix", i, got[i], tt.want[i])
				}
			}
		})
	}
}
