package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/agentguard/agentguard/webhook/guardrails"
)

// testNamespaces are the namespaces the unit tests know.
var testNamespaces = NamespaceLabelerFunc(func(_ context.Context, name string) (map[string]string, error) {
	switch name {
	case "team-a":
		return map[string]string{guardrails.LabelTenant: "team-a"}, nil
	case "team-b":
		return map[string]string{guardrails.LabelTenant: "team-b"}, nil
	}
	return map[string]string{}, nil
})

func policiesDir(tb testing.TB) string {
	tb.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "policies")
}

func defaultEngine(tb testing.TB) *guardrails.Engine {
	tb.Helper()
	e, err := guardrails.LoadBundle(context.Background(), policiesDir(tb))
	if err != nil {
		tb.Fatal(err)
	}
	return e
}

// newTestServer returns a ready server (not listening) over the default
// bundle.
func newTestServer(tb testing.TB, opts Options) *Server {
	tb.Helper()
	if opts.CertDir == "" && opts.Certificate == nil {
		opts.CertDir = tb.TempDir()
	}
	if opts.Namespaces == nil {
		opts.Namespaces = testNamespaces
	}
	s, err := NewServer(opts)
	if err != nil {
		tb.Fatal(err)
	}
	s.SetEngine(defaultEngine(tb))
	return s
}

func readFixture(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// reviewFor wraps an object in an AdmissionReview.
func reviewFor(tb testing.TB, group, kind, ns, op string, obj any, old any) []byte {
	tb.Helper()
	raw := func(v any) json.RawMessage {
		if v == nil {
			return nil
		}
		b, err := json.Marshal(v)
		if err != nil {
			tb.Fatal(err)
		}
		return b
	}
	r := map[string]any{
		"apiVersion": "admission.k8s.io/v1",
		"kind":       "AdmissionReview",
		"request": map[string]any{
			"uid":       "uid-1",
			"kind":      map[string]string{"group": group, "version": "v1", "kind": kind},
			"resource":  map[string]string{"group": group, "version": "v1", "resource": "x"},
			"namespace": ns,
			"operation": op,
			"userInfo":  map[string]any{"username": "alice", "groups": []string{"system:authenticated"}},
			"object":    raw(obj),
			"oldObject": raw(old),
		},
	}
	b, err := json.Marshal(r)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func post(h http.Handler, path string, body []byte, contentType string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func decodeResponse(tb testing.TB, rec *httptest.ResponseRecorder) *admissionv1.AdmissionResponse {
	tb.Helper()
	if rec.Code != http.StatusOK {
		tb.Fatalf("status %d: %s", rec.Code, rec.Body.String())
	}
	var out admissionv1.AdmissionReview
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		tb.Fatalf("decode response: %v", err)
	}
	if out.Response == nil {
		tb.Fatalf("no response in %s", rec.Body.String())
	}
	return out.Response
}

func mustQ(s string) resource.Quantity { return resource.MustParse(s) }
