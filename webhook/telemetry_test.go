package webhook

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/agentguard/agentguard/internal/telemetry"
	"github.com/agentguard/agentguard/webhook/guardrails"
)

// TestDeniedAdmissionTelemetry: a denied review leaves a span with its
// outcome and a violation count by control id.
func TestDeniedAdmissionTelemetry(t *testing.T) {
	tel, err := telemetry.Setup(t.Context(), telemetry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rec := tracetest.NewSpanRecorder()
	tel.TracerProvider = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	s := newTestServer(t, Options{Telemetry: tel})
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
	spans := rec.Ended()
	if len(spans) != 1 || spans[0].Name() != "admission.validate" {
		t.Fatalf("spans %v", spans)
	}
	attrs := map[string]string{}
	for _, a := range spans[0].Attributes() {
		attrs[string(a.Key)] = a.Value.String()
	}
	if attrs["admission.allowed"] != "false" || attrs["k8s.namespace.name"] != "team-a" || attrs["k8s.kind"] != "Pod" {
		t.Errorf("span attributes %v", attrs)
	}
	mrec := httptest.NewRecorder()
	s.Handler().ServeHTTP(mrec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	body := mrec.Body.String()
	if !strings.Contains(body, `agentguard_admission_requests_total{outcome="denied",webhook="validate"} 1`) {
		t.Errorf("no denied request counted:\n%s", grepLines(body, "agentguard_admission_requests"))
	}
	if !strings.Contains(body, `control="AG-GEN-001"`) {
		t.Errorf("no violation counted by control id:\n%s", grepLines(body, "agentguard_admission_violations"))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
