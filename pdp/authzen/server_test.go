package authzen_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/agentguard/agentguard/internal/telemetry"
	"github.com/agentguard/agentguard/pdp"
	"github.com/agentguard/agentguard/pdp/authzen"
)

func loadEngine(t testing.TB) *pdp.Engine {
	t.Helper()
	eng, err := pdp.Load("../../policies", pdp.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return eng
}

func newServer(t testing.TB, opts authzen.Options) *authzen.Server {
	t.Helper()
	if opts.Authenticator == nil {
		opts.InsecureAllowUnauthenticated = true
	}
	if opts.Engines == nil {
		eng := loadEngine(t)
		opts.Engines = authzen.EngineFunc(func() *pdp.Engine { return eng })
	}
	s, err := authzen.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// do sends one request and decodes the JSON response.
func do(t testing.TB, h http.Handler, method, path, contentType, body string) (int, map[string]any) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var out map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatalf("%s %s: response is not JSON (%v): %q", method, path, err, rec.Body.String())
	}
	return rec.Code, out
}

const (
	triageCreate = `{"subject":{"type":"agent","id":"acme-agents/triage"},"action":{"name":"call_tool"},"resource":{"type":"tool","id":"github/create_issue"}}`
	triageCRM    = `{"subject":{"type":"agent","id":"acme-agents/triage"},"action":{"name":"call_tool"},"resource":{"type":"tool","id":"crm/export_contacts"}}`
)

func TestEvaluation(t *testing.T) {
	t.Parallel()
	s := newServer(t, authzen.Options{})
	tests := []struct {
		name     string
		body     string
		want     bool
		policies any
	}{
		{"allow names the permit", triageCreate, true, []any{"allow-allowlisted-tool-in-own-tenant"}},
		{"forbid names the forbid", triageCRM, false, []any{"forbid-cross-tenant"}},
		{"default deny names nothing", `{"subject":{"type":"agent","id":"acme-agents/triage"},"action":{"name":"call_tool"},"resource":{"type":"tool","id":"payments/refund"}}`, false, nil},
		{"unknown members are ignored (AuthZEN §JSON Serialization)", `{"subject":{"type":"agent","id":"acme-agents/triage","x":1},"action":{"name":"call_tool"},"resource":{"type":"tool","id":"github/create_issue"},"extra":{"a":[1,2]}}`, true, []any{"allow-allowlisted-tool-in-own-tenant"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, out := do(t, s, http.MethodPost, authzen.PathEvaluation, "application/json", tt.body)
			if code != http.StatusOK {
				t.Fatalf("status %d: %v", code, out)
			}
			if out["decision"] != tt.want {
				t.Errorf("decision = %v, want %v", out["decision"], tt.want)
			}
			ctx, _ := out["context"].(map[string]any)
			if ctx["decision_id"] == "" || ctx["decision_id"] == nil {
				t.Errorf("no decision_id in %v", out)
			}
			if diff := cmp.Diff(tt.policies, ctx["policies"]); diff != "" {
				t.Errorf("policies (-want +got):\n%s", diff)
			}
			if ctx["reason"] == "" || ctx["reason_admin"] == nil {
				t.Errorf("no reason in %v", out)
			}
		})
	}
}

func TestHidePolicies(t *testing.T) {
	t.Parallel()
	s := newServer(t, authzen.Options{HidePolicies: true})
	_, out := do(t, s, http.MethodPost, authzen.PathEvaluation, "application/json", triageCRM)
	if ctx := out["context"].(map[string]any); ctx["policies"] != nil {
		t.Errorf("policies returned although hidden: %v", ctx)
	}
}

// TestBadInput checks that every kind of bad request gets its 4xx and a JSON
// body that names the problem.
func TestBadInput(t *testing.T) {
	t.Parallel()
	s := newServer(t, authzen.Options{MaxBodyBytes: 4096})
	tests := []struct {
		name, method, path, ctype, body string
		status                          int
		errIn                           string
	}{
		{"malformed JSON", "POST", authzen.PathEvaluation, "application/json", `{"subject":`, 400, "malformed JSON"},
		{"duplicate member", "POST", authzen.PathEvaluation, "application/json", `{"subject":{"type":"agent","id":"a","id":"b"},"action":{"name":"call_tool"},"resource":{"type":"tool","id":"x"}}`, 400, "(subject.id): duplicate object member name"},
		{"invalid UTF-8", "POST", authzen.PathEvaluation, "application/json", "{\"subject\":{\"type\":\"agent\",\"id\":\"\xff\"}}", 400, "invalid UTF-8"},
		{"not an object", "POST", authzen.PathEvaluation, "application/json", `[1,2]`, 400, "JSON object"},
		{"trailing data", "POST", authzen.PathEvaluation, "application/json", triageCreate + `{}`, 400, "after the JSON object"},
		{"missing subject", "POST", authzen.PathEvaluation, "application/json", `{"action":{"name":"call_tool"},"resource":{"type":"tool","id":"x"}}`, 400, "subject: required"},
		{"missing subject id", "POST", authzen.PathEvaluation, "application/json", `{"subject":{"type":"agent"},"action":{"name":"call_tool"},"resource":{"type":"tool","id":"x"}}`, 400, "subject.id: required"},
		{"missing action", "POST", authzen.PathEvaluation, "application/json", `{"subject":{"type":"agent","id":"a"},"resource":{"type":"tool","id":"x"}}`, 400, "action: required"},
		{"missing resource", "POST", authzen.PathEvaluation, "application/json", `{"subject":{"type":"agent","id":"a"},"action":{"name":"call_tool"}}`, 400, "resource: required"},
		{"mistyped id", "POST", authzen.PathEvaluation, "application/json", `{"subject":{"type":"agent","id":7},"action":{"name":"call_tool"},"resource":{"type":"tool","id":"x"}}`, 400, "subject.id"},
		{"context not an object", "POST", authzen.PathEvaluation, "application/json", `{"subject":{"type":"agent","id":"a"},"action":{"name":"call_tool"},"resource":{"type":"tool","id":"x"},"context":"now"}`, 400, "context: must be a JSON object"},
		{"unknown subject type", "POST", authzen.PathEvaluation, "application/json", `{"subject":{"type":"robot","id":"a"},"action":{"name":"call_tool"},"resource":{"type":"tool","id":"x"}}`, 400, `unknown subject type "robot"`},
		{"unknown resource type", "POST", authzen.PathEvaluation, "application/json", `{"subject":{"type":"agent","id":"a"},"action":{"name":"call_tool"},"resource":{"type":"file","id":"x"}}`, 400, `unknown resource type "file"`},
		{"unknown action", "POST", authzen.PathEvaluation, "application/json", `{"subject":{"type":"agent","id":"a"},"action":{"name":"rm_rf"},"resource":{"type":"tool","id":"x"}}`, 400, `unknown action "rm_rf"`},
		{"action on the wrong resource type", "POST", authzen.PathEvaluation, "application/json", `{"subject":{"type":"agent","id":"a"},"action":{"name":"call_tool"},"resource":{"type":"tool_server","id":"x"}}`, 400, "resource.type"},
		{"undeclared context attribute", "POST", authzen.PathEvaluation, "application/json", `{"subject":{"type":"agent","id":"a"},"action":{"name":"call_tool"},"resource":{"type":"tool","id":"x"},"context":{"isAdmin":true}}`, 400, "context.isAdmin"},
		{"undeclared subject property", "POST", authzen.PathEvaluation, "application/json", `{"subject":{"type":"agent","id":"a","properties":{"tenant":"globex"}},"action":{"name":"call_tool"},"resource":{"type":"tool","id":"x"}}`, 400, "subject.properties.tenant"},
		{"context attribute of the wrong type", "POST", authzen.PathEvaluation, "application/json", `{"subject":{"type":"agent","id":"a"},"action":{"name":"call_tool"},"resource":{"type":"tool","id":"x"},"context":{"user":42}}`, 400, "request"},
		{"null inside context", "POST", authzen.PathEvaluation, "application/json", `{"subject":{"type":"agent","id":"a"},"action":{"name":"call_tool"},"resource":{"type":"tool","id":"x"},"context":{"user":null}}`, 400, "context"},
		{"fraction in context", "POST", authzen.PathEvaluation, "application/json", `{"subject":{"type":"agent","id":"a"},"action":{"name":"call_tool"},"resource":{"type":"tool","id":"x"},"context":{"user":1.5}}`, 400, "context"},
		{"caller cannot set now", "POST", authzen.PathEvaluation, "application/json", `{"subject":{"type":"agent","id":"a"},"action":{"name":"call_tool"},"resource":{"type":"tool","id":"x"},"context":{"now":"2020-01-01"}}`, 400, "context.now"},
		{"body too large", "POST", authzen.PathEvaluation, "application/json", `{"subject":{"type":"agent","id":"` + strings.Repeat("a", 5000) + `"}}`, 413, "larger than"},
		{"wrong content type", "POST", authzen.PathEvaluation, "text/plain", triageCreate, 415, "content type"},
		{"no content type", "POST", authzen.PathEvaluation, "", triageCreate, 415, "content type"},
		{"wrong method", "GET", authzen.PathEvaluation, "", "", 405, "use POST"},
		{"wrong method on evaluations", "PUT", authzen.PathEvaluations, "application/json", triageCreate, 405, "use POST"},
		{"wrong method on metadata", "POST", authzen.PathMetadata, "application/json", "{}", 405, "use GET"},
		{"unknown path", "GET", "/access/v2/evaluation", "", "", 404, "no such endpoint"},
		{"bad semantic", "POST", authzen.PathEvaluations, "application/json", `{"options":{"evaluations_semantic":"first_wins"},"evaluations":[` + triageCreate + `]}`, 400, "evaluations_semantic"},
		{"evaluation without default", "POST", authzen.PathEvaluations, "application/json", `{"action":{"name":"call_tool"},"evaluations":[{"resource":{"type":"tool","id":"x"}}]}`, 400, "evaluations[0].subject: required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, out := do(t, s, tt.method, tt.path, tt.ctype, tt.body)
			if code != tt.status {
				t.Fatalf("status = %d, want %d (%v)", code, tt.status, out)
			}
			msg, _ := out["error"].(string)
			if !strings.Contains(msg, tt.errIn) {
				t.Errorf("error %q does not mention %q", msg, tt.errIn)
			}
			if out["status"] != float64(tt.status) {
				t.Errorf("body status = %v, want %d", out["status"], tt.status)
			}
		})
	}
}

func TestTooManyEvaluations(t *testing.T) {
	t.Parallel()
	s := newServer(t, authzen.Options{MaxBodyBytes: 10 << 20})
	body := `{"subject":{"type":"agent","id":"a"},"action":{"name":"call_tool"},"evaluations":[` +
		strings.Repeat(`{"resource":{"type":"tool","id":"x"}},`, authzen.MaxEvaluations) + `{"resource":{"type":"tool","id":"x"}}]}`
	if code, out := do(t, s, "POST", authzen.PathEvaluations, "application/json", body); code != http.StatusRequestEntityTooLarge {
		t.Fatalf("status = %d (%v), want 413", code, out)
	}
}

func TestReadiness(t *testing.T) {
	t.Parallel()
	var cur atomic.Pointer[pdp.Engine]
	s := newServer(t, authzen.Options{Engines: authzen.EngineFunc(cur.Load)})
	if code, _ := do(t, s, "GET", "/healthz", "", ""); code != 200 {
		t.Errorf("healthz = %d, want 200", code)
	}
	if code, _ := do(t, s, "GET", "/readyz", "", ""); code != 503 {
		t.Errorf("readyz before load = %d, want 503", code)
	}
	if code, out := do(t, s, "POST", authzen.PathEvaluation, "application/json", triageCreate); code != 503 {
		t.Errorf("evaluation before load = %d (%v), want 503", code, out)
	}
	cur.Store(loadEngine(t))
	if code, out := do(t, s, "GET", "/readyz", "", ""); code != 200 || out["revision"] == "" {
		t.Errorf("readyz after load = %d %v, want 200 with a revision", code, out)
	}
}

func TestMetadata(t *testing.T) {
	t.Parallel()
	s := newServer(t, authzen.Options{BaseURL: "https://pdp.example.com/"})
	code, out := do(t, s, "GET", authzen.PathMetadata, "", "")
	want := map[string]any{
		"policy_decision_point":       "https://pdp.example.com",
		"access_evaluation_endpoint":  "https://pdp.example.com/access/v1/evaluation",
		"access_evaluations_endpoint": "https://pdp.example.com/access/v1/evaluations",
	}
	if code != 200 {
		t.Fatalf("status %d", code)
	}
	if diff := cmp.Diff(want, out); diff != "" {
		t.Errorf("metadata (-want +got):\n%s", diff)
	}
}

func TestRequestIDEchoed(t *testing.T) {
	t.Parallel()
	s := newServer(t, authzen.Options{})
	req := httptest.NewRequest("POST", authzen.PathEvaluation, strings.NewReader(triageCreate))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Request-ID", "bfe9eb29-ab87")
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	if got := rec.Header().Get("X-Request-ID"); got != "bfe9eb29-ab87" {
		t.Errorf("X-Request-ID = %q, want the caller's", got)
	}
}

// TestTraceparent checks that the decision joins the caller's trace (W3C
// traceparent), carries its baggage, and is described with GenAI and
// agentguard attributes.
func TestTraceparent(t *testing.T) {
	t.Parallel()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	s := newServer(t, authzen.Options{TracerProvider: tp})
	req := httptest.NewRequest("POST", authzen.PathEvaluation, strings.NewReader(triageCreate))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	req.Header.Set("baggage", "session.id=s-77,agentguard.task=T-9")
	s.ServeHTTP(httptest.NewRecorder(), req)
	spans := rec.Ended()
	if len(spans) != 2 {
		t.Fatalf("%d spans, want the request span and the decision span", len(spans))
	}
	byName := map[string]sdktrace.ReadOnlySpan{}
	for _, sp := range spans {
		byName[sp.Name()] = sp
		if got := sp.SpanContext().TraceID().String(); got != "4bf92f3577b34da6a3ce929d0e0e4736" {
			t.Errorf("%s: trace id = %s, want the caller's", sp.Name(), got)
		}
	}
	server, decide := byName["authzen.evaluation"], byName["agentguard.decide"]
	if server == nil || decide == nil {
		t.Fatalf("spans %v", byName)
	}
	if got := server.Parent().SpanID().String(); got != "00f067aa0ba902b7" {
		t.Errorf("parent span = %s, want the caller's", got)
	}
	if decide.Parent().SpanID() != server.SpanContext().SpanID() {
		t.Error("the decision span is not a child of the request span")
	}
	want := map[string]string{
		"gen_ai.agent.id": "acme-agents/triage", "gen_ai.tool.name": "github/create_issue",
		"agentguard.decision": "true", "session.id": "s-77", "agentguard.task": "T-9",
		"agentguard.policies": `["allow-allowlisted-tool-in-own-tenant"]`,
	}
	got := map[string]string{}
	for _, a := range decide.Attributes() {
		got[string(a.Key)] = a.Value.String()
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("attribute %s = %q, want %q", k, got[k], v)
		}
	}
}

func TestMetricsExposed(t *testing.T) {
	tel, err := telemetry.Setup(context.Background(), telemetry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := newServer(t, authzen.Options{MeterProvider: tel.MeterProvider, Registerer: tel.Registry, Metrics: tel.MetricsHandler()})
	do(t, s, "POST", authzen.PathEvaluation, "application/json", triageCreate)
	do(t, s, "POST", authzen.PathEvaluation, "application/json", triageCRM)
	do(t, s, "POST", authzen.PathEvaluation, "application/json", `{`)
	req := httptest.NewRequest("GET", "/metrics", nil)
	rr := httptest.NewRecorder()
	s.ServeHTTP(rr, req)
	body, _ := io.ReadAll(rr.Body)
	for _, want := range []string{
		`agentguard_pdp_decisions_total{decision="allow",endpoint="evaluation",tool="github/create_issue"} 1`,
		`agentguard_pdp_decisions_total{decision="deny",endpoint="evaluation",tool="crm/export_contacts"} 1`,
		`agentguard_pdp_decision_duration_seconds_count{decision="allow",endpoint="evaluation"} 1`,
		`agentguard_pdp_request_errors_total{endpoint="evaluation",status="400"} 1`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// TestExtraHandlers: routes from Options.Handlers are served beside the
// API, and other methods on them get a 405 with a JSON body.
func TestExtraHandlers(t *testing.T) {
	t.Parallel()
	s := newServer(t, authzen.Options{Handlers: map[string]http.Handler{
		"GET /v1/status":    http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, `{"status":"ok"}`) }),
		"DELETE /v1/status": http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }),
	}})
	if code, out := do(t, s, "GET", "/v1/status", "", ""); code != 200 || out["status"] != "ok" {
		t.Errorf("GET /v1/status = %d %v", code, out)
	}
	if code, out := do(t, s, "POST", "/v1/status", "application/json", "{}"); code != 405 {
		t.Errorf("POST /v1/status = %d %v, want 405", code, out)
	}
}
