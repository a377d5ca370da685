package authzen_test

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentguard/agentguard/audit"
	"github.com/agentguard/agentguard/pdp/authzen"
)

// TestDecisionIsAudited: a decision becomes one record naming the agent,
// tool, outcome, policies, decision id, the user, task and session from the
// request's context and the caller's W3C trace id, also when the PDP
// itself does not trace (no tracer provider); the log verifies.
func TestDecisionIsAudited(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "audit")
	pub, key, err := audit.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	l, err := audit.Open(dir, audit.Options{SigningKey: key})
	if err != nil {
		t.Fatal(err)
	}
	s := newServer(t, authzen.Options{Audit: l})
	req := httptest.NewRequest("POST", authzen.PathEvaluation, strings.NewReader(triageCreate[:len(triageCreate)-1]+`,"context":{"user":"alice@acme.example","task":"T-9","session":"s-77"}}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
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
	if r.Kind != audit.KindPDPDecision || r.Decision != audit.DecisionAllow || r.Agent != "agent:acme-agents/triage" ||
		r.Tool != "tool:github/create_issue" || r.Action != "call_tool" || r.DecisionID == "" ||
		len(r.Policies) != 1 || r.Policies[0] != "allow-allowlisted-tool-in-own-tenant" {
		t.Errorf("record %+v", r)
	}
	if r.OnBehalfOf == "" || r.TaskID != "T-9" || r.SessionID != "s-77" {
		t.Errorf("user, task, session = %q, %q, %q", r.OnBehalfOf, r.TaskID, r.SessionID)
	}
	if r.TraceID != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("trace id %q, want the caller's", r.TraceID)
	}
	if _, err := audit.Verify(dir, pub); err != nil {
		t.Errorf("log does not verify: %v", err)
	}
}
