package authzen_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/agentguard/agentguard/pdp/authzen"
)

// FuzzHandler sends arbitrary bodies to both evaluation endpoints: the
// answer is always JSON and never a 5xx or a panic.
func FuzzHandler(f *testing.F) {
	for _, seed := range []string{
		triageCreate, triageCRM, `{}`, `{"subject":null}`, `[]`, `{"evaluations":[{}]}`,
		`{"subject":` + triage + `,"action":` + call + `,"evaluations":[` + allowT + `,` + denyT + `],"options":{"evaluations_semantic":"deny_on_first_deny"}}`,
		`{"subject":{"type":"agent","id":"a","properties":{"onBehalfOf":{"__entity":{"type":"User","id":"x"}}}},"action":{"name":"call_tool"},"resource":{"type":"tool","id":"x"}}`,
		`{"subject":{"type":"agent","id":"a"},"action":{"name":"call_tool"},"resource":{"type":"tool","id":"x"},"context":{"user":{"__extn":{"fn":"ip","arg":"10.0.0.1"}}}}`,
		`{"subject":{"type":"agent","id":"a"},"action":{"name":"call_tool"},"resource":{"type":"tool","id":"x"},"context":{"task":"` + "\xff\xfe" + `"}}`,
	} {
		f.Add([]byte(seed))
	}
	s := newServer(f, authzen.Options{})
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, path := range []string{authzen.PathEvaluation, authzen.PathEvaluations} {
			req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, req)
			if rec.Code >= 500 {
				t.Fatalf("%s: status %d for %q: %s", path, rec.Code, body, rec.Body)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Fatalf("%s: content type %q", path, ct)
			}
		}
	})
}
