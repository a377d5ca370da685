package webhook

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/agentguard/agentguard/internal/httpx"
	"github.com/agentguard/agentguard/internal/telemetry"
	"github.com/agentguard/agentguard/webhook/guardrails"
)

func TestHandlerBadInput(t *testing.T) {
	s := newTestServer(t, Options{MaxBodyBytes: 64 << 10})
	valid := readFixture(t, "agent-deployment.json")
	tests := []struct {
		name        string
		method      string
		contentType string
		body        []byte
		want        int
	}{
		{"not JSON", http.MethodPost, "application/json", []byte("{not json"), http.StatusBadRequest},
		{"empty body", http.MethodPost, "application/json", nil, http.StatusBadRequest},
		{"wrong apiVersion", http.MethodPost, "application/json", bytes.Replace(valid, []byte("admission.k8s.io/v1"), []byte("admission.k8s.io/v1beta1"), 1), http.StatusBadRequest},
		{"wrong kind", http.MethodPost, "application/json", bytes.Replace(valid, []byte(`"kind": "AdmissionReview"`), []byte(`"kind": "Review"`), 1), http.StatusBadRequest},
		{"no request", http.MethodPost, "application/json", []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`), http.StatusBadRequest},
		{"no uid", http.MethodPost, "application/json", bytes.Replace(valid, []byte(`"uid": "7f0b2a38-6a2f-4c4e-9a51-0d3c1c1e2b10"`), []byte(`"uid": ""`), 1), http.StatusBadRequest},
		{"trailing data", http.MethodPost, "application/json", append(append([]byte{}, valid...), []byte(" {}")...), http.StatusBadRequest},
		{"object of the wrong shape", http.MethodPost, "application/json", bytes.Replace(valid, []byte(`"containers": [`), []byte(`"containers": 7, "x": [`), 1), http.StatusBadRequest},
		{"oversized", http.MethodPost, "application/json", append(bytes.Repeat([]byte(" "), 65<<10), valid...), http.StatusRequestEntityTooLarge},
		{"wrong content type", http.MethodPost, "text/plain", valid, http.StatusUnsupportedMediaType},
		{"GET", http.MethodGet, "application/json", nil, http.StatusMethodNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, path := range []string{"/validate", "/mutate"} {
				req := httptest.NewRequest(tt.method, path, bytes.NewReader(tt.body))
				req.Header.Set("Content-Type", tt.contentType)
				rec := httptest.NewRecorder()
				s.Handler().ServeHTTP(rec, req)
				if rec.Code != tt.want {
					t.Fatalf("%s: status %d, want %d (%s)", path, rec.Code, tt.want, rec.Body.String())
				}
				var eb httpx.ErrorBody
				if err := json.Unmarshal(rec.Body.Bytes(), &eb); err != nil || eb.Status != tt.want || eb.Error == "" {
					t.Errorf("%s: error body %q (%v)", path, rec.Body.String(), err)
				}
			}
		})
	}
}

func TestHandlerValidateAndMutate(t *testing.T) {
	s := newTestServer(t, Options{})
	h := s.Handler()
	badPod := &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "team-a", Labels: map[string]string{guardrails.LabelAgent: "research-bot"}},
		Spec: corev1.PodSpec{ServiceAccountName: "research-bot", HostPID: true, Containers: []corev1.Container{{
			Name: "app", Image: "registry.corp.example/a:1",
		}}},
	}
	t.Run("typical agent deployment is allowed unchanged", func(t *testing.T) {
		body := readFixture(t, "agent-deployment.json")
		resp := decodeResponse(t, post(h, "/validate", body, "application/json"))
		if !resp.Allowed || resp.UID != "7f0b2a38-6a2f-4c4e-9a51-0d3c1c1e2b10" || len(resp.Warnings) != 0 {
			t.Errorf("validate: %+v", resp)
		}
		// Nothing to default: the only change is the launcher stamp on the
		// template, which the pods inherit (AG-SEC-012).
		resp = decodeResponse(t, post(h, "/mutate", body, "application/json"))
		var ops []PatchOp
		if err := json.Unmarshal(resp.Patch, &ops); err != nil || !resp.Allowed {
			t.Fatalf("mutate: allowed=%v patch=%s (%v)", resp.Allowed, resp.Patch, err)
		}
		want := []PatchOp{{Op: "add", Path: "/spec/template/metadata/annotations/agentguard.io~1launched-by",
			Value: "system:serviceaccount:argocd:argocd-application-controller"}}
		if diff := cmp.Diff(want, ops); diff != "" {
			t.Errorf("patch (-want +got):\n%s", diff)
		}
	})
	t.Run("violating pod is denied with control IDs", func(t *testing.T) {
		resp := decodeResponse(t, post(h, "/validate", reviewFor(t, "", "Pod", "team-a", "CREATE", badPod, nil), "application/json"))
		if resp.Allowed || resp.Result == nil || resp.Result.Code != http.StatusForbidden {
			t.Fatalf("got %+v", resp)
		}
		for _, id := range []string{"[AG-GEN-001] pod shares host namespaces", "[AG-GEN-201]", "[AG-SEC-004]"} {
			if !strings.Contains(resp.Result.Message, id) {
				t.Errorf("message lacks %s:\n%s", id, resp.Result.Message)
			}
		}
	})
	t.Run("mutate returns a JSON patch", func(t *testing.T) {
		resp := decodeResponse(t, post(h, "/mutate", reviewFor(t, "", "Pod", "team-a", "CREATE", badPod, nil), "application/json"))
		if !resp.Allowed || resp.PatchType == nil || *resp.PatchType != admissionv1.PatchTypeJSONPatch {
			t.Fatalf("got %+v", resp)
		}
		var ops []PatchOp
		if err := json.Unmarshal(resp.Patch, &ops); err != nil || len(ops) == 0 {
			t.Fatalf("patch %s: %v", resp.Patch, err)
		}
	})
	t.Run("unknown kinds are allowed untouched", func(t *testing.T) {
		cm := map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "x"}}
		for _, path := range []string{"/validate", "/mutate"} {
			resp := decodeResponse(t, post(h, path, reviewFor(t, "", "ConfigMap", "team-a", "CREATE", cm, nil), "application/json"))
			if !resp.Allowed || resp.Patch != nil || resp.Result != nil {
				t.Errorf("%s: %+v", path, resp)
			}
		}
	})
	t.Run("DELETE is allowed", func(t *testing.T) {
		resp := decodeResponse(t, post(h, "/validate", reviewFor(t, "", "Pod", "team-a", "DELETE", nil, badPod), "application/json"))
		if !resp.Allowed {
			t.Errorf("%+v", resp)
		}
	})
	t.Run("kube-system is exempt", func(t *testing.T) {
		p := badPod.DeepCopy()
		p.Namespace = "kube-system"
		resp := decodeResponse(t, post(h, "/validate", reviewFor(t, "", "Pod", "kube-system", "CREATE", p, nil), "application/json"))
		if !resp.Allowed {
			t.Errorf("%+v", resp)
		}
	})
	t.Run("metadata-only update of a non-compliant pod is allowed", func(t *testing.T) {
		p := badPod.DeepCopy()
		p.Labels["team"] = "x"
		resp := decodeResponse(t, post(h, "/validate", reviewFor(t, "", "Pod", "team-a", "UPDATE", p, badPod), "application/json"))
		if !resp.Allowed {
			t.Errorf("%+v", resp.Result)
		}
		p.Spec.Containers[0].Image = "registry.corp.example/a:2"
		resp = decodeResponse(t, post(h, "/validate", reviewFor(t, "", "Pod", "team-a", "UPDATE", p, badPod), "application/json"))
		if resp.Allowed {
			t.Error("a spec change of a non-compliant pod was allowed")
		}
	})
	t.Run("pod label change by a non-admin is denied", func(t *testing.T) {
		old := badPod.DeepCopy()
		old.Spec.HostPID = false
		p := old.DeepCopy()
		p.Labels[guardrails.LabelAgent] = "other-bot"
		resp := decodeResponse(t, post(h, "/validate", reviewFor(t, "", "Pod", "team-a", "UPDATE", p, old), "application/json"))
		if resp.Allowed || !strings.Contains(resp.Result.Message, "[AG-SEC-105] user \"alice\" may not change the protected label agentguard.io/agent") {
			t.Errorf("%+v", resp.Result)
		}
	})
}

func TestHandlerNotReady(t *testing.T) {
	s, err := NewServer(Options{CertDir: t.TempDir(), Namespaces: testNamespaces})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("/readyz before the config is loaded: %d", rec.Code)
	}
	resp := decodeResponse(t, post(s.Handler(), "/validate", readFixture(t, "agent-deployment.json"), "application/json"))
	if resp.Allowed || resp.Result.Code != http.StatusServiceUnavailable {
		t.Errorf("review before the config is loaded: %+v", resp)
	}
	s.SetEngine(defaultEngine(t))
	rec = httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	if rec.Code != http.StatusOK {
		t.Errorf("/readyz after loading: %d", rec.Code)
	}
	for _, p := range []string{"/healthz", "/metrics"} {
		rec = httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, p, nil))
		if rec.Code != http.StatusOK {
			t.Errorf("%s: %d", p, rec.Code)
		}
	}
}

func TestMetricsCountOutcomes(t *testing.T) {
	tel, err := telemetry.Setup(t.Context(), telemetry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := newTestServer(t, Options{Telemetry: tel})
	post(s.Handler(), "/validate", readFixture(t, "agent-deployment.json"), "application/json")
	post(s.Handler(), "/validate", []byte("nope"), "application/json")
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{
		`agentguard_admission_requests_total{outcome="allowed",webhook="validate"} 1`,
		`agentguard_admission_requests_total{outcome="bad_request",webhook="validate"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if !strings.Contains(body, "agentguard_admission_duration_seconds_bucket") {
		t.Errorf("no duration histogram")
	}
}
