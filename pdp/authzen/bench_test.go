package authzen_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/agentguard/agentguard/internal/telemetry"
	"github.com/agentguard/agentguard/pdp/authzen"
)

// BenchmarkEvaluationHandler measures one AuthZEN evaluation through the
// HTTP handler (decode, map, validate, decide, metrics, encode), without
// the network.
func BenchmarkEvaluationHandler(b *testing.B) {
	tel := telemetry.Noop()
	s := newServer(b, authzen.Options{MeterProvider: tel.MeterProvider})
	body := `{"subject":{"type":"agent","id":"acme-agents/assistant"},"action":{"name":"call_tool"},"resource":{"type":"tool","id":"github/search_issues"},"context":{"user":"alice@acme.example"}}`
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, authzen.PathEvaluation, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatal(rec.Body.String())
		}
	}
}
