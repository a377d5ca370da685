package guardrails

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const testConfig = `
apiVersion: agentguard.io/v1alpha1
kind: AdmissionConfig
allowedRegistries: [registry.corp.example, ghcr.io/acme/]
adminGroups: [admins]
tenants:
  team-a:
    maxPerContainer: {cpu: "2", nvidia.com/gpu: "1"}
agents:
  bot:
    tenant: team-a
    serviceAccount: bot
    secrets: [openai/api-key, whole]
    configMaps: [bot-config]
  other:
    tenant: team-a
    serviceAccount: other-sa
  paused:
    suspended: true
    serviceAccount: paused
`

func testEngine(t *testing.T, mutate func(*Config)) *Engine {
	t.Helper()
	cfg, err := ParseConfig([]byte(testConfig))
	if err != nil {
		t.Fatal(err)
	}
	if mutate != nil {
		mutate(cfg)
	}
	e, err := New(context.Background(), Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// goodPod is an agent pod that passes every built-in check.
func goodPod() *corev1.Pod {
	no, yes := false, true
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns-a", Labels: map[string]string{LabelAgent: "bot"}},
		Spec: corev1.PodSpec{
			ServiceAccountName:           "bot",
			AutomountServiceAccountToken: &no,
			SecurityContext:              &corev1.PodSecurityContext{RunAsNonRoot: &yes, SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
			Containers: []corev1.Container{{
				Name: "app", Image: "registry.corp.example/bot:1",
				SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: &no, Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}},
				Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
					Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("128Mi")},
				},
			}},
		},
	}
}

func podInput(p *corev1.Pod, nsLabels map[string]string) *Input {
	return &Input{Operation: "CREATE", Kind: "Pod", Namespace: p.Namespace, Name: p.Name, NamespaceLabels: nsLabels,
		PodMeta: &p.ObjectMeta, PodSpec: &p.Spec, Labels: p.Labels}
}

var tenantA = map[string]string{LabelTenant: "team-a"}

func ids(d *Decision) []string {
	var out []string
	for _, v := range d.Violations {
		out = append(out, v.ID+" "+v.Check)
	}
	return out
}

func TestBuiltinChecks(t *testing.T) {
	e := testEngine(t, nil)
	c0 := func(p *corev1.Pod) *corev1.Container { return &p.Spec.Containers[0] }
	tests := []struct {
		name     string
		mod      func(*corev1.Pod)
		nsLabels map[string]string
		want     []string // "ID check", in evaluation order
		msg      string   // substring of the first message
	}{
		{name: "compliant", mod: func(*corev1.Pod) {}},
		{name: "no cpu request", mod: func(p *corev1.Pod) { delete(c0(p).Resources.Requests, corev1.ResourceCPU) },
			want: []string{"AG-GEN-201 resources"}, msg: `[AG-GEN-201] container "app" has no resources.requests.cpu`},
		{name: "init container without memory limit", mod: func(p *corev1.Pod) {
			ic := *c0(p).DeepCopy()
			ic.Name = "init"
			ic.Resources.Limits = nil
			p.Spec.InitContainers = []corev1.Container{ic}
		}, want: []string{"AG-GEN-201 resources"}, msg: `init container "init" has no resources.limits.memory`},
		{name: "gpu request without limit", mod: func(p *corev1.Pod) { c0(p).Resources.Requests["nvidia.com/gpu"] = resource.MustParse("1") },
			want: []string{"AG-GEN-201 resources"}, msg: `requests nvidia.com/gpu without a limit`},
		{name: "above tenant maximum", mod: func(p *corev1.Pod) {
			c0(p).Resources.Limits["nvidia.com/gpu"] = resource.MustParse("2")
			c0(p).Resources.Requests[corev1.ResourceCPU] = resource.MustParse("3")
		}, want: []string{"AG-GEN-201 resources", "AG-GEN-201 resources"}, msg: `resources.requests["cpu"] is 3, above tenant "team-a"'s per-container maximum 2`},
		{name: "image from docker hub", mod: func(p *corev1.Pod) { c0(p).Image = "busybox" },
			want: []string{"AG-GEN-003 registries"}, msg: `container "app" uses image "busybox"`},
		{name: "lookalike registry", mod: func(p *corev1.Pod) { c0(p).Image = "registry.corp.example.evil.io/bot:1" },
			want: []string{"AG-GEN-003 registries"}},
		{name: "same host, other port", mod: func(p *corev1.Pod) { c0(p).Image = "registry.corp.example:5000/bot:1" },
			want: []string{"AG-GEN-003 registries"}},
		{name: "repository prefix", mod: func(p *corev1.Pod) { c0(p).Image = "ghcr.io/acme/tool@sha256:" + strings.Repeat("a", 64) }},
		{name: "image volume", mod: func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "model", VolumeSource: corev1.VolumeSource{Image: &corev1.ImageVolumeSource{Reference: "docker.io/x/model:1"}}}}
		}, want: []string{"AG-GEN-003 registries"}, msg: `image volume "model"`},
		{name: "literal secret by name", mod: func(p *corev1.Pod) { c0(p).Env = []corev1.EnvVar{{Name: "DB_PASSWORD", Value: "hunter2"}} },
			want: []string{"AG-GEN-007 env-secrets"}, msg: `env DB_PASSWORD is named like a secret`},
		{name: "literal secret by value", mod: func(p *corev1.Pod) {
			c0(p).Env = []corev1.EnvVar{{Name: "CONFIG", Value: "AKIAABCDEFGHIJKLMNOP"}}
		}, want: []string{"AG-GEN-007 env-secrets"}, msg: `looks like a credential`},
		{name: "secret from a Secret", mod: func(p *corev1.Pod) {
			c0(p).Env = []corev1.EnvVar{{Name: "OPENAI_API_KEY", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: "openai"}, Key: "api-key"}}}}
		}},
		{name: "other key of an allowed secret", mod: func(p *corev1.Pod) {
			c0(p).Env = []corev1.EnvVar{{Name: "K", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: "openai"}, Key: "admin-key"}}}}
		}, want: []string{"AG-SEC-103 secret-refs"}, msg: `references Secret openai key admin-key`},
		{name: "whole secret via envFrom", mod: func(p *corev1.Pod) {
			c0(p).EnvFrom = []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "openai"}}}}
		}, want: []string{"AG-SEC-103 secret-refs"}, msg: `the whole Secret openai`},
		{name: "whole secret allow-listed", mod: func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "w", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "whole"}}}}
			c0(p).EnvFrom = []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "bot-config"}}}}
		}},
		{name: "configmap not allowed", mod: func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "c", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
				{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "other"}}}}}}}}
		}, want: []string{"AG-SEC-103 secret-refs"}},
		{name: "default service account", mod: func(p *corev1.Pod) { p.Spec.ServiceAccountName = "default" },
			want: []string{"AG-SEC-001 service-account"}, msg: `set spec.serviceAccountName to ServiceAccount bot`},
		{name: "service account of another agent", mod: func(p *corev1.Pod) { p.Labels[LabelAgent] = "unregistered"; p.Spec.ServiceAccountName = "other-sa" },
			want: []string{"AG-SEC-001 service-account"}, msg: `registered to agent "other"`},
		{name: "wrong service account for the agent", mod: func(p *corev1.Pod) { p.Spec.ServiceAccountName = "x" },
			want: []string{"AG-SEC-001 service-account"}, msg: `registered with ServiceAccount "bot"`},
		{name: "automount unset", mod: func(p *corev1.Pod) { p.Spec.AutomountServiceAccountToken = nil },
			want: []string{"AG-SEC-004 token"}},
		{name: "projected token without audience", mod: func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "t", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
				{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "t"}}}}}}}
		}, want: []string{"AG-SEC-004 token"}, msg: `has no audience`},
		{name: "not a tenant namespace", mod: func(*corev1.Pod) {}, nsLabels: map[string]string{},
			want: []string{"AG-SEC-105 tenancy"}, msg: `not an agent tenant namespace`},
		{name: "other tenant", mod: func(*corev1.Pod) {}, nsLabels: map[string]string{LabelTenant: "team-b"},
			want: []string{"AG-SEC-105 tenancy"}, msg: `registered to tenant "team-a"`},
		{name: "pod tenant label contradicts namespace", mod: func(p *corev1.Pod) { p.Labels[LabelTenant] = "team-b" },
			want: []string{"AG-SEC-105 tenancy"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := goodPod()
			tt.mod(p)
			ns := tt.nsLabels
			if ns == nil {
				ns = tenantA
			}
			d := e.Evaluate(context.Background(), podInput(p, ns))
			if diff := cmp.Diff(tt.want, ids(d)); diff != "" {
				t.Fatalf("violations (-want +got):\n%s\n%v", diff, d.Violations)
			}
			if d.Allowed != (len(tt.want) == 0) {
				t.Errorf("allowed = %v", d.Allowed)
			}
			for _, v := range d.Violations {
				if !strings.HasPrefix(v.Message, "["+v.ID+"] ") || !strings.Contains(v.Message, "fix:") {
					t.Errorf("message %q: want [ID] prefix and a fix", v.Message)
				}
			}
			if tt.msg != "" && !strings.Contains(d.Violations[0].Message, tt.msg) {
				t.Errorf("message %q lacks %q", d.Violations[0].Message, tt.msg)
			}
		})
	}
}

func TestRegistryAndModes(t *testing.T) {
	tests := []struct {
		name    string
		cfg     func(*Config)
		agent   string
		want    []Violation
		allowed bool
	}{
		{name: "unregistered allowed by default", agent: "new", allowed: true},
		{name: "unregistered refused when required", cfg: func(c *Config) { c.RequireRegisteredAgents = true }, agent: "new",
			want: []Violation{{ID: "AG-SEC-012", Check: "agent-registry", Mode: ModeEnforce}}},
		{name: "suspended", cfg: func(c *Config) { c.RequireRegisteredAgents = true }, agent: "paused",
			want: []Violation{{ID: "AG-SEC-012", Check: "agent-registry", Mode: ModeEnforce}}},
		{name: "warn by check name", cfg: func(c *Config) {
			c.RequireRegisteredAgents = true
			c.Modes = map[string]Mode{"agent-registry": ModeWarn}
		},
			agent: "new", allowed: true, want: []Violation{{ID: "AG-SEC-012", Check: "agent-registry", Mode: ModeWarn}}},
		{name: "audit by control ID", cfg: func(c *Config) { c.RequireRegisteredAgents = true; c.Modes = map[string]Mode{"AG-SEC-012": ModeAudit} },
			agent: "new", allowed: true, want: []Violation{{ID: "AG-SEC-012", Check: "agent-registry", Mode: ModeAudit}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := testEngine(t, tt.cfg)
			p := goodPod()
			p.Labels[LabelAgent] = tt.agent
			p.Spec.ServiceAccountName = tt.agent
			d := e.Evaluate(context.Background(), podInput(p, tenantA))
			if diff := cmp.Diff(tt.want, d.Violations, cmpIgnoreMessage); diff != "" {
				t.Errorf("violations (-want +got):\n%s", diff)
			}
			if d.Allowed != (tt.allowed || len(tt.want) == 0) {
				t.Errorf("allowed = %v", d.Allowed)
			}
			if got := len(d.Warnings()); got != len(filterMode(tt.want, ModeWarn)) {
				t.Errorf("warnings = %v", d.Warnings())
			}
		})
	}
}

var cmpIgnoreMessage = cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".Message" }, cmp.Ignore())

func filterMode(vs []Violation, m Mode) []Violation {
	var out []Violation
	for _, v := range vs {
		if v.Mode == m {
			out = append(out, v)
		}
	}
	return out
}

func TestExemptions(t *testing.T) {
	e := testEngine(t, func(c *Config) {
		c.Exemptions = Exemptions{Namespaces: []string{"legacy"}, NamespaceLabels: map[string]string{"guardrails": "off"}, PodLabels: map[string]string{"break-glass": "*"}}
	})
	bad := goodPod()
	bad.Spec.HostPID = true
	tests := []struct {
		name     string
		ns       string
		nsLabels map[string]string
		podLabel string
		exempt   bool
	}{
		{"kube-system", "kube-system", tenantA, "", true},
		{"own namespace", "agentguard-system", tenantA, "", true},
		{"configured namespace", "legacy", tenantA, "", true},
		{"namespace label", "x", map[string]string{LabelTenant: "team-a", "guardrails": "off"}, "", true},
		{"pod label", "x", tenantA, "break-glass", true},
		{"not exempt", "x", tenantA, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := bad.DeepCopy()
			p.Namespace = tt.ns
			if tt.podLabel != "" {
				p.Labels[tt.podLabel] = "yes"
			}
			d := e.Evaluate(context.Background(), podInput(p, tt.nsLabels))
			if (d.Exempt != "") != tt.exempt || d.Allowed != tt.exempt {
				t.Errorf("exempt=%q allowed=%v violations=%v", d.Exempt, d.Allowed, ids(d))
			}
		})
	}
}

func TestProtectedLabels(t *testing.T) {
	e := testEngine(t, nil)
	dev := &User{Username: "dev", Groups: []string{"system:authenticated"}}
	admin := &User{Username: "root", Groups: []string{"admins"}}
	tests := []struct {
		name      string
		kind      string
		user      *User
		old, new  map[string]string
		oldExists bool
		denied    bool
	}{
		{"namespace created with tenant label by dev", "Namespace", dev, nil, tenantA, false, true},
		{"namespace created with tenant label by admin", "Namespace", admin, nil, tenantA, false, false},
		{"namespace tenant changed by dev", "Namespace", dev, tenantA, map[string]string{LabelTenant: "team-b"}, true, true},
		{"namespace tenant removed by dev", "Namespace", dev, tenantA, map[string]string{}, true, true},
		{"namespace other label by dev", "Namespace", dev, tenantA, map[string]string{LabelTenant: "team-a", "x": "y"}, true, false},
		{"offline evaluation (no user)", "Namespace", nil, tenantA, map[string]string{}, true, false},
		{"pod created with agent label by dev", "Deployment", dev, nil, map[string]string{LabelAgent: "bot"}, false, false},
		{"agent label changed by dev", "Deployment", dev, map[string]string{LabelAgent: "bot"}, map[string]string{LabelAgent: "other"}, true, true},
		{"agent label changed by admin", "Deployment", admin, map[string]string{LabelAgent: "bot"}, map[string]string{LabelAgent: "other"}, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := &Input{Operation: "UPDATE", Kind: tt.kind, Name: "n", Labels: tt.new, OldLabels: tt.old, OldExists: tt.oldExists, User: tt.user}
			if tt.kind == "Namespace" {
				in.NamespaceLabels = tt.new
			} else {
				// Only the label check is of interest: an exempt-free,
				// non-agent template in a plain namespace.
				in.Namespace = "plain"
			}
			d := e.Evaluate(context.Background(), in)
			var got []string
			for _, v := range d.Violations {
				if v.Check == "protected-labels" {
					got = append(got, v.Message)
				}
			}
			if (len(got) > 0) != tt.denied {
				t.Errorf("protected-label violations %q, want denied=%v", got, tt.denied)
			}
		})
	}
}

func TestTokenSecrets(t *testing.T) {
	e := testEngine(t, nil)
	tests := []struct {
		name, typ string
		ns        map[string]string
		denied    bool
	}{
		{"token secret in a tenant namespace", "kubernetes.io/service-account-token", tenantA, true},
		{"opaque secret in a tenant namespace", "Opaque", tenantA, false},
		{"token secret elsewhere", "kubernetes.io/service-account-token", map[string]string{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := e.Evaluate(context.Background(), &Input{Operation: "CREATE", Kind: "Secret", Namespace: "ns", Name: "s", NamespaceLabels: tt.ns, SecretType: tt.typ})
			if d.Allowed == tt.denied {
				t.Errorf("allowed=%v violations=%v", d.Allowed, d.Violations)
			}
			if tt.denied && (len(d.Violations) != 1 || d.Violations[0].ID != "AG-SEC-004") {
				t.Errorf("violations = %v", d.Violations)
			}
		})
	}
}

func TestPanicInCheckBecomesDenial(t *testing.T) {
	e := testEngine(t, func(c *Config) { c.Modes = map[string]Mode{"resources": ModeAudit} })
	e.checks = append(slices.Clone(e.checks), check{name: "boom", id: "AG-GEN-999", scope: scopeContainers, run: func(*evaluation) {
		panic("check bug")
	}})
	d := e.Evaluate(context.Background(), podInput(goodPod(), tenantA))
	if d.Allowed || len(d.Violations) != 1 {
		t.Fatalf("allowed=%v violations=%v", d.Allowed, d.Violations)
	}
	v := d.Violations[0]
	if v.ID != "AG-GEN-999" || v.Check != "boom" || v.Mode != ModeEnforce || !strings.Contains(v.Message, `guardrail "boom" failed`) {
		t.Errorf("violation = %+v", v)
	}
}

func TestImageAllowed(t *testing.T) {
	tests := []struct {
		image   string
		allowed []string
		want    bool
	}{
		{"busybox", []string{"docker.io/library/busybox"}, true},
		{"busybox:1.36", []string{"docker.io/library/busybox"}, true},
		{"busybox@sha256:abc", []string{"docker.io/library/busybox"}, true},
		{"busyboxx:1", []string{"docker.io/library/busybox"}, false},
		{"acme/app:1", []string{"docker.io/acme"}, true},
		{"registry.corp.example/x", []string{"registry.corp.example/"}, true},
		{"registry.corp.example:5000/x", []string{"registry.corp.example"}, false},
		{"registry.corp.example:5000/x", []string{"registry.corp.example:5000"}, true},
		{"localhost/x", []string{"localhost"}, true},
		{"", []string{"docker.io"}, false},
	}
	for _, tt := range tests {
		if got := imageAllowed(tt.image, tt.allowed); got != tt.want {
			t.Errorf("imageAllowed(%q, %v) = %v, want %v", tt.image, tt.allowed, got, tt.want)
		}
	}
}
