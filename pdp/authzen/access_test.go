package authzen_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/agentguard/agentguard/internal/pdptest"
	"github.com/agentguard/agentguard/pdp/authn"
	"github.com/agentguard/agentguard/pdp/authzen"
)

// authServer is a PDP with static-token authentication and the access
// request API on a bbolt store; tokens maps a name to its bearer token.
type authServer struct {
	h      http.Handler
	tokens map[string]string
	now    *time.Time
}

func newAuthServer(t *testing.T) *authServer {
	t.Helper()
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	as := &authServer{now: &now}
	var static *authn.StaticTokens
	as.tokens, static = pdptest.Tokens(t, map[string]authn.StaticPrincipal{
		"triage":  {Type: "Agent", ID: "acme-agents/triage"},
		"sales":   {Type: "Agent", ID: "globex-agents/sales"},
		"gateway": {Type: "Agent", ID: "acme-gateway/mcp-gateway"},
		"alice":   {Type: "User", ID: "alice@acme.example"},
		"bob":     {Type: "User", ID: "bob@acme.example"},
	})
	p := pdptest.New(t, pdptest.Options{
		Bundle: "../../policies", Now: func() time.Time { return *as.now }, Issuer: "https://pdp.test",
		Server: authzen.Options{Authenticator: static, BaseURL: "https://pdp.test"},
	})
	as.h = p.Handler
	return as
}

// call sends a request as the named caller ("" for none).
func (as *authServer) call(t *testing.T, who, method, path, body string, hdr ...string) (*httptest.ResponseRecorder, map[string]any) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if who != "" {
		req.Header.Set("Authorization", "Bearer "+as.tokens[who])
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	as.h.ServeHTTP(rec, req)
	var out map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &out)
	return rec, out
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	as := newAuthServer(t)
	rec, _ := as.call(t, "", "POST", authzen.PathEvaluation, triageCreate)
	if rec.Code != http.StatusUnauthorized || !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Bearer") {
		t.Fatalf("no token: %d %q, want 401 with a Bearer challenge", rec.Code, rec.Header().Get("WWW-Authenticate"))
	}
	as.tokens["forged"] = "not-a-known-token"
	if rec, _ := as.call(t, "forged", "POST", authzen.PathEvaluation, triageCreate); rec.Code != http.StatusUnauthorized {
		t.Fatalf("unknown token: %d, want 401", rec.Code)
	}
	if rec, out := as.call(t, "triage", "POST", authzen.PathEvaluation, triageCreate); rec.Code != 200 || out["decision"] != true {
		t.Fatalf("own subject: %d %v", rec.Code, out)
	}
	// Never trust the subject in the body.
	spoof := `{"subject":{"type":"agent","id":"acme-agents/triage"},"action":{"name":"call_tool"},"resource":{"type":"tool","id":"crm/export_contacts"}}`
	if rec, out := as.call(t, "sales", "POST", authzen.PathEvaluation, spoof); rec.Code != http.StatusForbidden {
		t.Fatalf("spoofed subject: %d %v, want 403", rec.Code, out)
	}
	// A gateway of the same tenant may ask for its agents (evaluate_for)...
	if rec, out := as.call(t, "gateway", "POST", authzen.PathEvaluation, triageCreate); rec.Code != 200 || out["decision"] != true {
		t.Fatalf("gateway on behalf of triage: %d %v", rec.Code, out)
	}
	// ...but not for another tenant's.
	salesCall := `{"subject":{"type":"agent","id":"globex-agents/sales"},"action":{"name":"call_tool"},"resource":{"type":"tool","id":"crm/export_contacts"}}`
	if rec, _ := as.call(t, "gateway", "POST", authzen.PathEvaluation, salesCall); rec.Code != http.StatusForbidden {
		t.Fatalf("gateway for another tenant: %d, want 403", rec.Code)
	}
	// Health, readiness and metadata stay open.
	for _, p := range []string{"/healthz", "/readyz", authzen.PathMetadata} {
		if rec, _ := as.call(t, "", "GET", p, ""); rec.Code != 200 {
			t.Errorf("%s without token: %d", p, rec.Code)
		}
	}
}

func TestAccessRequestOverHTTP(t *testing.T) {
	t.Parallel()
	as := newAuthServer(t)
	refund := `{"subject":{"type":"agent","id":"acme-agents/triage"},"action":{"name":"call_tool"},"resource":{"type":"tool","id":"payments/refund"},"context":{"task":"T-1"}}`

	_, md := as.call(t, "", "GET", authzen.PathMetadata, "")
	if md["access_request_endpoint"] != "https://pdp.test/access/v1/requests" || md["jwks_uri"] == nil {
		t.Errorf("metadata %v lacks the access request endpoint or jwks_uri", md)
	}

	// 1. Denied, requestable.
	rec, out := as.call(t, "triage", "POST", authzen.PathEvaluation, refund)
	ctx, _ := out["context"].(map[string]any)
	ar, _ := ctx["access_request"].(map[string]any)
	if rec.Code != 200 || out["decision"] != false || ctx["reason"] != "approval_required" || ar == nil {
		t.Fatalf("first evaluation: %d %v", rec.Code, out)
	}

	// 2. Submit.
	sub := fmt.Sprintf(`{"subject":{"type":"agent","id":"acme-agents/triage"},"action":{"name":"call_tool"},"resource":{"type":"tool","id":"payments/refund"},
		"context":{"task":"T-1","justification":"refund for order 9"},
		"denial":{"evaluation_id":%q,"expires_at":%q,"binding_token":%q,"reason":"approval_required","template":%q}}`,
		ctx["evaluation_id"], ar["expires_at"], ar["binding_token"], ar["template"])
	rec, out = as.call(t, "triage", "POST", authzen.PathRequests, sub, "Idempotency-Key", "k-1")
	task, _ := out["task"].(map[string]any)
	if rec.Code != http.StatusAccepted || task["status"] != "pending" || rec.Header().Get("Location") != task["status_endpoint"] {
		t.Fatalf("submit: %d %v", rec.Code, out)
	}
	id := task["id"].(string)
	if rec, again := as.call(t, "triage", "POST", authzen.PathRequests, sub, "Idempotency-Key", "k-1"); rec.Code != http.StatusAccepted || again["task"].(map[string]any)["id"] != id {
		t.Fatalf("idempotent resubmission: %d %v", rec.Code, again)
	}

	// 3. The agent cannot approve its own request (403, problem+json).
	rec, out = as.call(t, "triage", "POST", authzen.PathRequests+"/"+id+"/approve", `{"reason":"me"}`)
	if rec.Code != http.StatusForbidden || rec.Header().Get("Content-Type") != "application/problem+json" {
		t.Fatalf("self approval: %d %s %v", rec.Code, rec.Header().Get("Content-Type"), out)
	}
	// An unrelated agent sees no such task.
	if rec, _ := as.call(t, "sales", "GET", authzen.PathRequests+"/"+id, ""); rec.Code != http.StatusNotFound {
		t.Fatalf("unrelated agent reads the task: %d", rec.Code)
	}

	// 4. Alice approves.
	rec, out = as.call(t, "alice", "POST", authzen.PathRequests+"/"+id+"/approve", `{"reason":"order 9 verified"}`)
	if rec.Code != 200 || out["task"].(map[string]any)["status"] != "approved" {
		t.Fatalf("approve: %d %v", rec.Code, out)
	}
	result := out["result"].(map[string]any)
	approval := result["approval"].(map[string]any)
	if result["mode"] != "reevaluate" || approval["approved_until"] == nil {
		t.Fatalf("result %v", result)
	}

	// 5. Re-evaluation with the approval: allowed by the grant.
	reeval := fmt.Sprintf(`{"subject":{"type":"agent","id":"acme-agents/triage"},"action":{"name":"call_tool"},"resource":{"type":"tool","id":"payments/refund"},"context":{"task":"T-1","approval":{"id":%q,"approved_until":%q}}}`, approval["id"], approval["approved_until"])
	var allowed map[string]any
	for i := 0; i < 200; i++ {
		_, allowed = as.call(t, "triage", "POST", authzen.PathEvaluation, reeval)
		if allowed["decision"] == true {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	actx := allowed["context"].(map[string]any)
	if allowed["decision"] != true || actx["approval"] == nil {
		t.Fatalf("re-evaluation: %v", allowed)
	}

	// 6. Listed as active; revoked by bob; denied again.
	if _, list := as.call(t, "triage", "GET", authzen.PathGrants, ""); len(list["grants"].([]any)) != 1 {
		t.Fatalf("active grants: %v", list)
	}
	if rec, out := as.call(t, "bob", "POST", authzen.PathGrants+"/"+id+"/revoke", `{"reason":"done"}`); rec.Code != 200 {
		t.Fatalf("revoke: %d %v", rec.Code, out)
	}
	for i := 0; i < 200; i++ {
		_, allowed = as.call(t, "triage", "POST", authzen.PathEvaluation, reeval)
		if allowed["decision"] == false {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if allowed["decision"] != false {
		t.Fatal("revoked grant still allows")
	}
	if _, list := as.call(t, "triage", "GET", authzen.PathGrants, ""); len(list["grants"].([]any)) != 0 {
		t.Fatalf("active grants after revocation: %v", list)
	}
}

func TestAccessRequestBadInput(t *testing.T) {
	t.Parallel()
	as := newAuthServer(t)
	tests := []struct {
		name, who, method, path, body string
		status                        int
	}{
		{"no token", "", "POST", authzen.PathRequests, `{}`, 401},
		{"malformed", "triage", "POST", authzen.PathRequests, `{"subject":`, 400},
		{"missing subject", "triage", "POST", authzen.PathRequests, `{"action":{"name":"call_tool"},"resource":{"type":"tool","id":"x"}}`, 400},
		{"no binding", "triage", "POST", authzen.PathRequests, `{"subject":{"type":"agent","id":"acme-agents/triage"},"action":{"name":"call_tool"},"resource":{"type":"tool","id":"payments/refund"}}`, 400},
		{"garbage binding", "triage", "POST", authzen.PathRequests, `{"subject":{"type":"agent","id":"acme-agents/triage"},"action":{"name":"call_tool"},"resource":{"type":"tool","id":"payments/refund"},"denial":{"binding_token":"x.y.z"}}`, 400},
		{"unknown task", "triage", "GET", authzen.PathRequests + "/arq-nope", "", 404},
		{"unknown op", "alice", "POST", authzen.PathRequests + "/arq-nope/escalate", "", 404},
		{"approve unknown", "alice", "POST", authzen.PathRequests + "/arq-nope/approve", "", 404},
		{"wrong method", "triage", "PUT", authzen.PathRequests, `{}`, 405},
		{"bad status filter", "triage", "GET", authzen.PathGrants + "?status=weird", "", 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, out := as.call(t, tt.who, tt.method, tt.path, tt.body)
			if rec.Code != tt.status {
				t.Fatalf("status %d (%v), want %d", rec.Code, out, tt.status)
			}
			if out == nil {
				t.Fatalf("body is not JSON: %q", rec.Body.String())
			}
		})
	}
}
