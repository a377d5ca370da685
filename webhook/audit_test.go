package webhook

import (
	"path/filepath"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/agentguard/agentguard/audit"
	"github.com/agentguard/agentguard/webhook/guardrails"
)

// TestAdmissionIsAudited: a denied review becomes one admission record with
// the object, the requester and the control ids; the log verifies.
func TestAdmissionIsAudited(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "audit")
	pub, key, err := audit.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	l, err := audit.Open(dir, audit.Options{SigningKey: key})
	if err != nil {
		t.Fatal(err)
	}
	s := newTestServer(t, Options{Audit: l})
	pod := &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: "rogue", Namespace: "team-a", Labels: map[string]string{guardrails.LabelAgent: "research-bot"}},
		Spec: corev1.PodSpec{ServiceAccountName: "research-bot", HostPID: true, Containers: []corev1.Container{{
			Name: "app", Image: "registry.corp.example/a:1",
		}}},
	}
	resp := decodeResponse(t, post(s.Handler(), "/validate", reviewFor(t, "", "Pod", "team-a", "CREATE", pod, nil), "application/json"))
	if resp.Allowed {
		t.Fatal("rogue pod admitted")
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	recs, _, err := audit.Tail(dir, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 {
		t.Fatalf("%d records, want 1", len(recs))
	}
	r := recs[0]
	if r.Kind != audit.KindAdmission || r.Decision != audit.DecisionDeny || r.Namespace != "team-a" || r.Object != "Pod/rogue" ||
		r.Event != "requested by alice" || !slices.Contains(r.Policies, "AG-GEN-001") {
		t.Errorf("record %+v", r)
	}
	if _, err := audit.Verify(dir, pub); err != nil {
		t.Errorf("log does not verify: %v", err)
	}
}
