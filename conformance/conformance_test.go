package conformance

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/agentguard/agentguard/audit"
	"github.com/agentguard/agentguard/conformance/catalog"
)

func policiesDir(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "policies")
}

func TestOutcome(t *testing.T) {
	core := &catalog.Control{ID: "AG-GEN-001", Level: catalog.LevelCore}
	advisory := &catalog.Control{ID: "AG-GEN-008", Level: catalog.LevelCore, Advisory: true}
	tests := []struct {
		name string
		ctl  *catalog.Control
		rec  func(r *record)
		want Status
		sum  string
	}{
		{"no evidence is never a pass", core, func(r *record) {}, StatusManual, "no evidence"},
		{"info only is never a pass", core, func(r *record) { r.info("looked", "", "") }, StatusManual, "no evidence"},
		{"ok steps pass", core, func(r *record) { r.ok("a", "", ""); r.ok("b", "", "") }, StatusPass, "all 2 steps"},
		{"partial coverage is said", core, func(r *record) { r.ok("a", "", ""); r.skip("x") }, StatusPass, "1 part(s) of the procedure not covered"},
		{"a finding fails", core, func(r *record) { r.ok("a", "", ""); r.finding("bad", "", "") }, StatusFail, "1 finding: bad"},
		{"advisory findings warn", advisory, func(r *record) { r.finding("bad", "", "") }, StatusWarn, "bad"},
		{"a finding beats an error", core, func(r *record) { r.finding("bad", "", ""); r.errorf("boom") }, StatusFail, "bad"},
		{"error", core, func(r *record) { r.ok("a", "", ""); r.errorf("boom %d", 1) }, StatusError, "boom 1"},
		{"the first error wins", core, func(r *record) { r.errorf("first"); r.manual("later") }, StatusError, "first"},
		{"manual beats ok", core, func(r *record) { r.ok("a", "", ""); r.manual("no PDP") }, StatusManual, "no PDP"},
		{"n/a", core, func(r *record) { r.notApplicable("no models") }, StatusNA, "no models"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &record{}
			tt.rec(r)
			st, sum := outcome(tt.ctl, r)
			if st != tt.want || !strings.Contains(sum, tt.sum) {
				t.Errorf("outcome = %s %q, want %s containing %q", st, sum, tt.want, tt.sum)
			}
		})
	}
}

func TestEveryCatalogCheckIsImplemented(t *testing.T) {
	cat, err := catalog.Default()
	if err != nil {
		t.Fatal(err)
	}
	impl := checks()
	used := map[string]bool{}
	for _, c := range cat.Controls {
		if c.Check == "" {
			continue
		}
		if impl[c.Check] == nil {
			t.Errorf("%s names check %q, which is not implemented", c.ID, c.Check)
		}
		used[c.Check] = true
	}
	for name := range impl {
		if !used[name] {
			t.Errorf("check %q is implemented but no control names it", name)
		}
	}
}

func TestParseProfile(t *testing.T) {
	p, err := ParseProfile([]byte("admission: {agent: my-bot, tenant: blue}\npdp: {grantTTL: 3s}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Admission.Agent != "my-bot" || p.Admission.Tenant != "blue" || p.Admission.OtherTenant != "team-b" || p.PDP.GrantTTL.Seconds() != 3 {
		t.Errorf("profile not merged with defaults: %+v", p.Admission)
	}
	bad := []struct{ yaml, want string }{
		{"admision: {}", "unknown field"},
		{"admission: {tenant: team-b}", "otherTenant must differ"},
		{"namespacePrefix: Not_A_Name", "namespacePrefix"},
		{"pdp: {grantTTL: 1h}", "grantTTL"},
		{"pdp: {spoofSubject: {type: agent, id: acme-agents/triage}}", "must differ"},
		{"telemetry: {pdpMetricsURL: 'ftp://x'}", "not an http(s) URL"},
		{"admission: {maxWebhookTimeoutSeconds: 99}", "maxWebhookTimeoutSeconds"},
		{"pdp: {grantTTL: soon}", "invalid duration"},
	}
	for _, tt := range bad {
		if _, err := ParseProfile([]byte(tt.yaml)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseProfile(%q) = %v, want an error containing %q", tt.yaml, err, tt.want)
		}
	}
	if _, err := LoadProfile("/nonexistent/profile.yaml"); err == nil {
		t.Error("LoadProfile of a missing file succeeded")
	}
}

// Without a cluster or a PDP, nothing that needs them passes.
func TestRunWithoutTargets(t *testing.T) {
	p := DefaultProfile()
	p.Bundle = policiesDir(t)
	rep, err := Run(context.Background(), Options{Profile: p})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Summary.Total != 133 {
		t.Fatalf("%d results, want 133", rep.Summary.Total)
	}
	for _, r := range rep.Results {
		switch r.ID {
		case "AG-CC-005", "AG-CC-006":
			if r.Status != StatusPass {
				t.Errorf("%s with the default bundle: %s %s %+v", r.ID, r.Status, r.Summary, r.Evidence)
			}
		case "AG-GOV-005":
			// The bundle's own tests run without a cluster; the default
			// bundle's result depends on its test coverage.
			if (r.Status != StatusPass && r.Status != StatusFail) || len(r.Evidence) == 0 {
				t.Errorf("AG-GOV-005 with the default bundle: %s %s", r.Status, r.Summary)
			}
		default:
			if r.Status != StatusManual {
				t.Errorf("%s without cluster or PDP: %s (%s), want MANUAL", r.ID, r.Status, r.Summary)
			}
		}
	}
	for _, r := range rep.Results {
		if r.CoreFailure() && r.ID != "AG-GOV-005" {
			t.Errorf("core failure: %s %s", r.ID, r.Summary)
		}
	}
}

func TestRunRejectsBadOptions(t *testing.T) {
	for _, tt := range []struct {
		name string
		opts Options
		want string
	}{
		{"unknown control", Options{Controls: []string{"AG-XYZ-001"}}, "unknown control"},
		{"bad PDP URL", Options{PDPURL: "pdp:8181"}, "want http"},
		{"invalid profile", Options{Profile: &Profile{}}, "profile"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Run(context.Background(), tt.opts); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Run = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestFallbackAgainstUnreachablePDP(t *testing.T) {
	p := DefaultProfile()
	p.Bundle = policiesDir(t)
	rep, err := Run(context.Background(), Options{Profile: p, Controls: []string{"AG-CC-006"}, PDPURL: "http://127.0.0.1:1", PDPToken: "t"})
	if err != nil {
		t.Fatal(err)
	}
	r := rep.Results[0]
	// With a PDP URL that does not answer, the warm-up cannot happen.
	if r.Status != StatusError || !strings.Contains(r.Summary, "warm-up") {
		t.Errorf("AG-CC-006 against a dead PDP: %s %s", r.Status, r.Summary)
	}
}

func TestRequiredCovered(t *testing.T) {
	rule := func(ops []admissionregistrationv1.OperationType, groups, resources []string) admissionregistrationv1.RuleWithOperations {
		return admissionregistrationv1.RuleWithOperations{Operations: ops, Rule: admissionregistrationv1.Rule{APIGroups: groups, Resources: resources}}
	}
	cu := []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update}
	tests := []struct {
		name     string
		rules    []admissionregistrationv1.RuleWithOperations
		required []string
		missing  string
	}{
		{"exact", []admissionregistrationv1.RuleWithOperations{rule(cu, []string{""}, []string{"pods", "pods/ephemeralcontainers"})}, []string{"pods", "pods/ephemeralcontainers"}, ""},
		{"wildcards", []admissionregistrationv1.RuleWithOperations{rule([]admissionregistrationv1.OperationType{"*"}, []string{"*"}, []string{"*/*"})}, []string{"apps/deployments", "pods/exec"}, ""},
		{"subresource wildcard", []admissionregistrationv1.RuleWithOperations{rule(cu, []string{""}, []string{"pods", "pods/*"})}, []string{"pods/ephemeralcontainers"}, ""},
		{"star does not cover subresources", []admissionregistrationv1.RuleWithOperations{rule(cu, []string{""}, []string{"*"})}, []string{"pods/ephemeralcontainers"}, "CREATE pods/ephemeralcontainers"},
		{"create only", []admissionregistrationv1.RuleWithOperations{rule(cu[:1], []string{"apps"}, []string{"deployments"})}, []string{"apps/deployments"}, "UPDATE apps/deployments"},
		{"wrong group", []admissionregistrationv1.RuleWithOperations{rule(cu, []string{""}, []string{"deployments"})}, []string{"apps/deployments"}, "CREATE apps/deployments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := strings.Join(requiredCovered(tt.required, tt.rules), ", ")
			if (tt.missing == "") != (got == "") || !strings.Contains(got, tt.missing) {
				t.Errorf("missing = %q, want %q", got, tt.missing)
			}
		})
	}
}

func TestRegistryAllowed(t *testing.T) {
	allowed := []string{"registry.corp.example", "ghcr.io/acme/"}
	for img, want := range map[string]bool{
		"registry.corp.example/a/b:1":      true,
		"registry.corp.example.evil/a:1":   false,
		"ghcr.io/acme/bot@sha256:00":       true,
		"ghcr.io/acmecorp/bot:1":           false,
		"docker.io/library/busybox:latest": false,
	} {
		if got := registryAllowed(img, allowed); got != want {
			t.Errorf("registryAllowed(%q) = %v, want %v", img, got, want)
		}
	}
}

func TestDecisionLogCheck(t *testing.T) {
	dir := t.TempDir()
	pub, priv, err := audit.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	l, err := audit.Open(dir, audit.Options{SigningKey: priv})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		l.Append(audit.Record{Kind: audit.KindPDPDecision, Agent: "a", Tool: fmt.Sprintf("t%d", i), Action: "call_tool", Decision: audit.DecisionDeny, Reason: "r"})
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	pem, _ := audit.MarshalPublicKey(pub)
	key := filepath.Join(t.TempDir(), "pub.pem")
	if err := os.WriteFile(key, pem, 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(dir, key string) Result {
		p := DefaultProfile()
		p.DecisionLog = DecisionLogProfile{Dir: dir, PublicKeyFile: key}
		rep, err := Run(context.Background(), Options{Profile: p, Controls: []string{"AG-SEC-011"}})
		if err != nil {
			t.Fatal(err)
		}
		return rep.Results[0]
	}
	if r := run(dir, key); r.Status != StatusPass || len(r.Evidence) != 6 {
		t.Errorf("intact log: %s %s %+v", r.Status, r.Summary, r.Evidence)
	}
	if r := run("", ""); r.Status != StatusManual {
		t.Errorf("no log: %s", r.Status)
	}
	if r := run(dir, filepath.Join(t.TempDir(), "missing.pem")); r.Status != StatusError {
		t.Errorf("missing key: %s", r.Status)
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "seg-*.jsonl"))
	data, _ := os.ReadFile(segs[0])
	if err := os.WriteFile(segs[0], []byte(strings.Replace(string(data), `"t1"`, `"t9"`, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := run(dir, key); r.Status != StatusFail || !strings.Contains(r.Summary, "fails verification") {
		t.Errorf("tampered log: %s %s", r.Status, r.Summary)
	}
}

func TestSecretRefs(t *testing.T) {
	spec := &corev1.PodSpec{
		InitContainers: []corev1.Container{{EnvFrom: []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "whole"}}}}}},
		Containers: []corev1.Container{{Env: []corev1.EnvVar{{Name: "K", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: "openai"}, Key: "api-key"}}}}}},
		Volumes: []corev1.Volume{
			{Name: "v", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "tls", Items: []corev1.KeyToPath{{Key: "ca.crt"}}}}},
			{Name: "p", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
				{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "proj"}}}}}}},
		},
	}
	got := secretRefs(spec)
	want := []string{"openai/api-key", "proj", "tls/ca.crt", "whole"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("secretRefs = %v, want %v", got, want)
	}
	allowed := []string{"openai/api-key", "tls"}
	for ref, ok := range map[string]bool{"openai/api-key": true, "openai/other": false, "openai": false, "tls/ca.crt": true, "tls": true, "proj": false} {
		if secretAllowed(ref, allowed) != ok {
			t.Errorf("secretAllowed(%q) = %v, want %v", ref, !ok, ok)
		}
	}
}
