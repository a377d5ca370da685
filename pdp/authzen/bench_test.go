package authzen_test

import (
	"context"
	"crypto/ed25519"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/agentguard/agentguard/audit"
	"github.com/agentguard/agentguard/internal/telemetry"
	"github.com/agentguard/agentguard/pdp/authzen"
)

const benchBody = `{"subject":{"type":"agent","id":"acme-agents/assistant"},"action":{"name":"call_tool"},"resource":{"type":"tool","id":"github/search_issues"},"context":{"user":"alice@acme.example"}}`

// BenchmarkEvaluationHandler measures one AuthZEN evaluation through the
// HTTP handler (decode, map, validate, decide, encode), without the
// network. "bare" has no meter reader and no decision log; "production"
// has what `agentguard serve` runs with: metrics exported to Prometheus
// and every decision appended to the decision log.
func BenchmarkEvaluationHandler(b *testing.B) {
	b.Run("bare", func(b *testing.B) {
		tel := telemetry.Noop()
		benchHandler(b, newServer(b, authzen.Options{MeterProvider: tel.MeterProvider}))
	})
	b.Run("production", func(b *testing.B) {
		tel, err := telemetry.Setup(context.Background(), telemetry.Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
		_, key, err := ed25519.GenerateKey(nil)
		if err != nil {
			b.Fatal(err)
		}
		log, err := audit.Open(b.TempDir(), audit.Options{SigningKey: key})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = log.Close() })
		benchHandler(b, newServer(b, authzen.Options{MeterProvider: tel.MeterProvider, Propagator: tel.Propagator, Audit: log}))
	})
}

func benchHandler(b *testing.B, s http.Handler) {
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, authzen.PathEvaluation, strings.NewReader(benchBody))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatal(rec.Body.String())
		}
	}
}
