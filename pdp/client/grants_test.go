package client_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/agentguard/agentguard/pdp"
	"github.com/agentguard/agentguard/pdp/authn"
	"github.com/agentguard/agentguard/pdp/authzen"
	"github.com/agentguard/agentguard/pdp/client"
	"github.com/agentguard/agentguard/pdp/grants"
)

// TestLocalModeUsesGrantSnapshot: the client snapshots the agent's active
// grants while the PDP is up; in an outage, local mode honours them, and
// they still expire by the clock.
func TestLocalModeUsesGrantSnapshot(t *testing.T) {
	clk := &clock{t: time.Now().UTC().Truncate(time.Second)}
	// The PDP side: a grant for triage on github/merge_pr (high
	// sensitivity, so only a grant allows it).
	live := pdp.NewGrants()
	srvEng, err := pdp.Load("../../policies", pdp.Options{Grants: live, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	store, err := grants.OpenBolt(filepath.Join(t.TempDir(), "g.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = store.Close() }()
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	signer, _ := grants.NewSigner(key, "k", "pdp")
	svc, _ := grants.NewService(grants.Options{Store: store, Engines: func() *pdp.Engine { return srvEng }, Signer: signer})
	tok, _ := authn.NewToken()
	static, err := authn.ParseStaticTokens([]byte(fmt.Sprintf("- sha256: %s\n  principal: {type: Agent, id: acme-agents/triage}\n", authn.HashToken(tok))))
	if err != nil {
		t.Fatal(err)
	}
	api, err := authzen.New(authzen.Options{Engines: authzen.EngineFunc(func() *pdp.Engine { return srvEng }), Authenticator: static, Grants: svc, GrantStore: store, Signer: signer})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api)
	defer srv.Close()
	until := clk.now().Add(10 * time.Minute)
	g := &grants.Request{
		ID: "arq-local", Subject: pdp.Entity{Type: "agent", ID: "acme-agents/triage"}, Action: pdp.Action{Name: "call_tool"},
		Resource: pdp.Entity{Type: "tool", ID: "github/merge_pr"}, Principal: grants.UID{Type: "Agent", ID: "acme-agents/triage"},
		CedarAction: grants.UID{Type: "Action", ID: "call_tool"}, CedarResource: grants.UID{Type: "Tool", ID: "github/merge_pr"},
		Requester: `Agent::"acme-agents/triage"`, Grantable: "github-write", Approval: "auto", Status: grants.StatusApproved,
		RequestedUntil: until, ApprovedUntil: until, ApprovedAt: clk.now(), CreatedAt: clk.now(), ExpiresAt: until,
	}
	if err := store.Create(context.Background(), g); err != nil {
		t.Fatal(err)
	}

	// The client side: its own engine over its own snapshot.
	snapshot := pdp.NewGrants()
	localEng, err := pdp.Load("../../policies", pdp.Options{Grants: snapshot, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, srv.URL, localEng, clk, func(o *client.Options) { o.Token = client.StaticToken(tok); o.Grants = snapshot })
	if err := c.RefreshGrants(context.Background()); err != nil {
		t.Fatal(err)
	}
	if snapshot.Len() != 1 {
		t.Fatalf("snapshot holds %d grants, want 1", snapshot.Len())
	}
	srv.Close() // outage
	merge := req("acme-agents/triage", "github/merge_pr", "")
	if d := evaluate(t, c, merge); d.Source != client.SourceFallback || d.Mode != pdp.FallbackLocal || !d.Allowed {
		t.Fatalf("local mode with a snapshot grant: %+v", d)
	}
	clk.add(11 * time.Minute)
	if d := evaluate(t, c, merge); d.Allowed {
		t.Fatalf("snapshot grant used past approved_until: %+v", d)
	}
}
