package pdp

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/agentguard/agentguard/internal/pdptest"
	"github.com/agentguard/agentguard/internal/testenv"
	"github.com/agentguard/agentguard/pdp"
	"github.com/agentguard/agentguard/pdp/authn"
	"github.com/agentguard/agentguard/pdp/authzen"
	"github.com/agentguard/agentguard/pdp/grants"
	"github.com/agentguard/agentguard/pdp/grants/kube"
)

const audience = "agentguard-pdp"

// clock is the PDP clock both replicas share, so a test can move time.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// replica is one PDP process: its own engine, live grant set, AgentGrant
// store with its own watch, and HTTP server.
type replica struct {
	url   string
	store *kube.Store
}

func startEnv(t *testing.T) (*envtest.Environment, *kubernetes.Clientset) {
	t.Helper()
	ctrllog.SetLogger(logr.Discard())
	env, cfg := testenv.Start(t, filepath.Join("..", "..", "..", "config", "crd"))
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return env, cs
}

func startReplica(t *testing.T, env *envtest.Environment, cs *kubernetes.Clientset, clk *clock, key ed25519.PrivateKey, static *authn.StaticTokens) *replica {
	t.Helper()
	store, err := kube.New(kube.Options{Config: env.Config, Namespace: "agentguard"})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := authn.NewTokenReview(authn.TokenReviewOptions{Client: cs.AuthenticationV1().TokenReviews(), Audience: audience})
	if err != nil {
		t.Fatal(err)
	}
	api := pdptest.New(t, pdptest.Options{
		Bundle: "../../../policies", Now: clk.now, Store: store, Key: key,
		Server: authzen.Options{Authenticator: authn.Chain(tr, static)},
	}).Handler
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	return &replica{url: srv.URL, store: store}
}

// mint asks the TokenRequest API for a ServiceAccount token bound to a
// pod of that ServiceAccount (the PDP refuses tokens not bound to a pod).
func mint(t *testing.T, cs *kubernetes.Clientset, ns, sa, aud string) string {
	t.Helper()
	ctx := context.Background()
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil && !strings.Contains(err.Error(), "already exists") {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa}}, metav1.CreateOptions{}); err != nil && !strings.Contains(err.Error(), "already exists") {
		t.Fatal(err)
	}
	pod, err := cs.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: sa + "-"},
		Spec:       corev1.PodSpec{ServiceAccountName: sa, Containers: []corev1.Container{{Name: "agent", Image: "registry.example/agent:1"}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	exp := int64(3600)
	tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{
			Audiences: []string{aud}, ExpirationSeconds: &exp,
			BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return tr.Status.Token
}

func post(t *testing.T, url, token, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// until polls f (a decision) until it returns want or time runs out.
func until(t *testing.T, what string, want bool, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if f() == want {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: never became %v", what, want)
}

func TestGrantsAcrossReplicas(t *testing.T) {
	env, cs := startEnv(t)
	ctx := context.Background()
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "agentguard"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Approvers are people: static tokens here (OIDC in a real cluster).
	aliceTok, _ := authn.NewToken()
	bobTok, _ := authn.NewToken()
	static, err := authn.ParseStaticTokens([]byte(fmt.Sprintf(`
- sha256: %s
  principal: {type: User, id: alice@acme.example}
- sha256: %s
  principal: {type: User, id: bob@acme.example}
`, authn.HashToken(aliceTok), authn.HashToken(bobTok))))
	if err != nil {
		t.Fatal(err)
	}
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	clk := &clock{t: time.Now().UTC().Truncate(time.Second)}
	a := startReplica(t, env, cs, clk, key, static)
	b := startReplica(t, env, cs, clk, key, static)

	triage := mint(t, cs, "acme-agents", "triage", audience)
	otherAud := mint(t, cs, "acme-agents", "triage", "some-other-service")
	sales := mint(t, cs, "globex-agents", "sales", audience)

	refund := `{"subject":{"type":"agent","id":"acme-agents/triage"},"action":{"name":"call_tool"},"resource":{"type":"tool","id":"payments/refund"},"context":{"task":"INC-7"}}`
	eval := a.url + authzen.PathEvaluation

	if code, _ := post(t, eval, "", refund); code != http.StatusUnauthorized {
		t.Fatalf("no token: %d, want 401", code)
	}
	if code, _ := post(t, eval, otherAud, refund); code != http.StatusUnauthorized {
		t.Fatalf("token for another audience: %d, want 401", code)
	}
	if code, out := post(t, eval, sales, refund); code != http.StatusForbidden {
		t.Fatalf("spoofed subject: %d %v, want 403", code, out)
	}

	code, out := post(t, eval, triage, refund)
	dctx, _ := out["context"].(map[string]any)
	hint, _ := dctx["access_request"].(map[string]any)
	if code != 200 || out["decision"] != false || hint == nil {
		t.Fatalf("first call: %d %v, want a requestable denial", code, out)
	}
	sub := fmt.Sprintf(`{"subject":{"type":"agent","id":"acme-agents/triage"},"action":{"name":"call_tool"},"resource":{"type":"tool","id":"payments/refund"},
	  "context":{"task":"INC-7","justification":"duplicate charge"},"denial":{"evaluation_id":%q,"binding_token":%q,"expires_at":%q}}`,
		dctx["evaluation_id"], hint["binding_token"], hint["expires_at"])
	code, out = post(t, a.url+authzen.PathRequests, triage, sub)
	if code != http.StatusAccepted {
		t.Fatalf("submit: %d %v", code, out)
	}
	id := out["task"].(map[string]any)["id"].(string)

	if code, out := post(t, a.url+authzen.PathRequests+"/"+id+"/approve", triage, ""); code != http.StatusForbidden {
		t.Fatalf("agent approving its own request: %d %v, want 403", code, out)
	}
	code, out = post(t, a.url+authzen.PathRequests+"/"+id+"/approve", aliceTok, `{"reason":"INC-7 verified"}`)
	if code != 200 {
		t.Fatalf("approve via replica A: %d %v", code, out)
	}
	approvedUntil, err := time.Parse(time.RFC3339, out["result"].(map[string]any)["approval"].(map[string]any)["approved_until"].(string))
	if err != nil {
		t.Fatal(err)
	}

	decide := func(r *replica, body string) bool {
		_, out := post(t, r.url+authzen.PathEvaluation, triage, body)
		return out["decision"] == true
	}
	until(t, "replica B sees the grant approved through replica A", true, func() bool { return decide(b, refund) })

	clk.set(approvedUntil.Add(time.Second))
	if decide(a, refund) || decide(b, refund) {
		t.Fatal("grant used one second after approved_until")
	}
	clk.set(approvedUntil.Add(-time.Minute))
	if !decide(a, refund) {
		t.Fatal("grant not in force before approved_until")
	}

	if code, out := post(t, b.url+authzen.PathGrants+"/"+id+"/revoke", bobTok, `{"reason":"incident closed"}`); code != 200 {
		t.Fatalf("revoke via replica B: %d %v", code, out)
	}
	until(t, "revoked grant denies on replica A", false, func() bool { return decide(a, refund) })

	// Forbid beats grant: an approved cross-tenant grant still denies.
	cross := storeGrant(t, a.store, "arq-crosstenant", "acme-agents/triage", "crm/export_contacts", clk.now())
	crm := `{"subject":{"type":"agent","id":"acme-agents/triage"},"action":{"name":"call_tool"},"resource":{"type":"tool","id":"crm/export_contacts"}}`
	time.Sleep(500 * time.Millisecond) // let the watch deliver it
	_, out = post(t, eval, triage, crm)
	pol, _ := out["context"].(map[string]any)["policies"].([]any)
	if out["decision"] != false || len(pol) != 1 || pol[0] != "forbid-cross-tenant" {
		t.Fatalf("grant %s across tenants: %v, want a denial by forbid-cross-tenant", cross, out)
	}
}

// storeGrant writes an approved grant straight into the store.
func storeGrant(t *testing.T, s grants.Store, id, agent, tool string, now time.Time) string {
	t.Helper()
	r := &grants.Request{
		ID: id, Subject: pdp.Entity{Type: "agent", ID: agent}, Action: pdp.Action{Name: "call_tool"}, Resource: pdp.Entity{Type: "tool", ID: tool},
		Principal: grants.UID{Type: "Agent", ID: agent}, CedarAction: grants.UID{Type: "Action", ID: "call_tool"}, CedarResource: grants.UID{Type: "Tool", ID: tool},
		Requester: `Agent::"` + agent + `"`, Grantable: "test", Approval: "human", RequestedUntil: now.Add(time.Hour),
		Status: grants.StatusApproved, CreatedAt: now, ExpiresAt: now.Add(time.Hour), ApprovalID: "apr-x", ApprovedBy: `User::"bob@acme.example"`,
		ApprovedAt: now, ApprovedUntil: now.Add(time.Hour),
		Events: []grants.Event{{Type: "approved", Actor: "test", At: now}},
	}
	if err := s.Create(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	return id
}
