package grants_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/cedar-policy/cedar-go/types"

	"github.com/agentguard/agentguard/pdp"
	"github.com/agentguard/agentguard/pdp/grants"
)

type fixture struct {
	t     *testing.T
	eng   *pdp.Engine
	live  *pdp.Grants
	store *grants.BoltStore
	svc   *grants.Service
	now   time.Time
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{t: t, live: pdp.NewGrants(), now: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)}
	src, err := pdp.ReadDir("../../policies")
	if err != nil {
		t.Fatal(err)
	}
	f.eng, err = pdp.New(src, pdp.Options{Now: func() time.Time { return f.now }, Grants: f.live})
	if err != nil {
		t.Fatal(err)
	}
	f.store, err = grants.OpenBolt(filepath.Join(t.TempDir(), "g.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.store.Close() })
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	signer, err := grants.NewSigner(key, "k1", "https://pdp.test")
	if err != nil {
		t.Fatal(err)
	}
	f.svc, err = grants.NewService(grants.Options{Store: f.store, Engines: func() *pdp.Engine { return f.eng }, Signer: signer})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() { _ = grants.Sync(ctx, f.store, f.live) }()
	return f
}

func (f *fixture) caller(typ, id string) grants.Caller {
	uid := types.NewEntityUID(types.EntityType(typ), types.String(id))
	e, ok := f.eng.Entity(uid)
	if !ok {
		e = types.Entity{UID: uid}
	}
	return grants.Caller{Entity: e}
}

func toolCall(agent, tool, ctx string) *pdp.Request {
	r := &pdp.Request{Subject: pdp.Entity{Type: "agent", ID: agent}, Action: pdp.Action{Name: "call_tool"}, Resource: pdp.Entity{Type: "tool", ID: tool}}
	if ctx != "" {
		r.Context = json.RawMessage(ctx)
	}
	return r
}

// deny evaluates r, expects a requestable denial and returns the
// submission a PEP would make from it.
func (f *fixture) deny(r *pdp.Request) *grants.Submission {
	f.t.Helper()
	d, err := f.eng.Evaluate(r)
	if err != nil {
		f.t.Fatal(err)
	}
	if d.Allowed {
		f.t.Fatalf("%v allowed, want a denial", r)
	}
	h, ok := f.svc.Hint(f.eng, r, d)
	if !ok {
		f.t.Fatalf("denial %+v not requestable", d)
	}
	sub := &grants.Submission{Subject: r.Subject, Action: r.Action, Resource: r.Resource, Context: r.Context}
	sub.Denial = grants.Denial{EvaluationID: d.ID, ExpiresAt: h.ExpiresAt, BindingToken: h.BindingToken, Template: h.Template}
	return sub
}

func (f *fixture) allowed(r *pdp.Request) bool {
	f.t.Helper()
	d, err := f.eng.Evaluate(r)
	if err != nil {
		f.t.Fatal(err)
	}
	return d.Allowed
}

// eventually waits for the live set (fed by Sync) to catch up.
func (f *fixture) eventually(r *pdp.Request, want bool) {
	f.t.Helper()
	for i := 0; i < 200; i++ {
		if f.allowed(r) == want {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	f.t.Fatalf("%v: allowed never became %v", r, want)
}

func wantProblem(t *testing.T, err error, status int, typ string) {
	t.Helper()
	var p *grants.Problem
	if !errors.As(err, &p) {
		t.Fatalf("error %v is not a problem (want %d %s)", err, status, typ)
	}
	if p.Status != status || (typ != "" && p.Type != typ) {
		t.Fatalf("problem %d %s (%s), want %d %s", p.Status, p.Type, p.Detail, status, typ)
	}
}

func TestHumanApprovalFlow(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	call := toolCall("acme-agents/triage", "payments/refund", `{"task":"ticket-7"}`)
	sub := f.deny(call)
	sub.Context = json.RawMessage(`{"task":"ticket-7","justification":"customer asked twice"}`)
	triage := f.caller("Agent", "acme-agents/triage")

	r, replayed, err := f.svc.Submit(ctx, triage, sub, "key-1")
	if err != nil || replayed {
		t.Fatalf("submit: %v (replayed %v)", err, replayed)
	}
	if r.Status != grants.StatusPending || r.Task != "ticket-7" || r.Justification != "customer asked twice" {
		t.Fatalf("request %+v", r)
	}
	again, replayed, err := f.svc.Submit(ctx, triage, sub, "key-1")
	if err != nil || !replayed || again.ID != r.ID {
		t.Fatalf("idempotent resubmission: %v, replayed %v, id %s vs %s", err, replayed, again.ID, r.ID)
	}
	other := *sub
	other.RequestedAccess.RequestedUntil = f.now.Add(5 * time.Minute)
	_, _, err = f.svc.Submit(ctx, triage, &other, "key-1")
	wantProblem(t, err, http.StatusConflict, grants.ProblemDuplicateRequest)

	// The agent cannot approve its own request; a user of another tenant
	// is refused by policy; alice (acme-approvers) approves.
	_, err = f.svc.Approve(ctx, triage, r.ID, "self")
	wantProblem(t, err, http.StatusForbidden, grants.ProblemForbidden)
	_, err = f.svc.Approve(ctx, f.caller("User", "carol@globex.example"), r.ID, "not mine")
	wantProblem(t, err, http.StatusForbidden, grants.ProblemForbidden)
	if f.allowed(call) {
		t.Fatal("allowed before approval")
	}
	approved, err := f.svc.Approve(ctx, f.caller("User", "alice@acme.example"), r.ID, "ok for ticket-7")
	if err != nil {
		t.Fatal(err)
	}
	if want := f.now.Add(15 * time.Minute); !approved.ApprovedUntil.Equal(want) {
		t.Errorf("approved_until = %s, want the declaration's maximum %s", approved.ApprovedUntil, want)
	}
	f.eventually(call, true)
	if f.allowed(toolCall("acme-agents/triage", "payments/refund", `{"task":"ticket-8"}`)) {
		t.Error("task-bound grant allowed another task")
	}
	_, err = f.svc.Approve(ctx, f.caller("User", "bob@acme.example"), r.ID, "twice")
	wantProblem(t, err, http.StatusConflict, grants.ProblemInvalidTaskState)

	// One second past approved_until the PDP's clock denies.
	f.now = approved.ApprovedUntil.Add(time.Second)
	if f.allowed(call) {
		t.Fatal("grant used one second after approved_until")
	}
	f.now = approved.ApprovedUntil.Add(-time.Minute)
	if !f.allowed(call) {
		t.Fatal("grant not in force before its expiry")
	}
	if _, err := f.svc.Revoke(ctx, f.caller("User", "bob@acme.example"), r.ID, "incident closed"); err != nil {
		t.Fatal(err)
	}
	f.eventually(call, false)

	final, err := f.svc.Get(ctx, triage, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, e := range final.Events {
		types = append(types, e.Type)
	}
	if want := []string{"requested", "approved", "revoked"}; !equal(types, want) {
		t.Errorf("events %v, want %v", types, want)
	}
	if _, err := f.svc.Get(ctx, f.caller("Agent", "globex-agents/sales"), r.ID); err == nil {
		t.Error("an unrelated agent can read the task")
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestSeparationOfDuties(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	// The assistant acts for alice; refunds are not on its allowlist, so
	// policy refuses the request itself.
	sub := f.deny(toolCall("acme-agents/assistant", "payments/refund", `{"user":"alice@acme.example","task":"t"}`))
	_, _, err := f.svc.Submit(ctx, f.caller("Agent", "acme-agents/assistant"), sub, "")
	wantProblem(t, err, http.StatusForbidden, grants.ProblemForbidden)

	// The triage agent acting for alice: alice may not approve, bob may.
	sub = f.deny(toolCall("acme-agents/triage", "payments/refund", `{"user":"alice@acme.example","task":"t"}`))
	r, _, err := f.svc.Submit(ctx, f.caller("Agent", "acme-agents/triage"), sub, "")
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.svc.Approve(ctx, f.caller("User", "alice@acme.example"), r.ID, "for me")
	wantProblem(t, err, http.StatusForbidden, grants.ProblemForbidden)
	if _, err := f.svc.Approve(ctx, f.caller("User", "bob@acme.example"), r.ID, "ok"); err != nil {
		t.Fatal(err)
	}
}

func TestAutoApproval(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	call := toolCall("acme-agents/assistant", "github/create_issue", `{"user":"alice@acme.example"}`)
	sub := f.deny(call)
	// create_issue is not on the assistant's allowlist, so request_grant
	// is refused even for an auto declaration.
	_, _, err := f.svc.Submit(ctx, f.caller("Agent", "acme-agents/assistant"), sub, "")
	wantProblem(t, err, http.StatusForbidden, "")

	// merge_pr is high-sensitivity but on the triage agent's allowlist:
	// the auto declaration approves at once, for at most an hour.
	merge := toolCall("acme-agents/triage", "github/merge_pr", "")
	r, _, err := f.svc.Submit(ctx, f.caller("Agent", "acme-agents/triage"), f.deny(merge), "")
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != grants.StatusApproved || r.ApprovedBy != "policy:github-write" || !r.ApprovedUntil.Equal(f.now.Add(time.Hour)) {
		t.Fatalf("auto request %+v", r)
	}
	f.eventually(merge, true)

	if _, ok := f.svc.Hint(f.eng, toolCall("acme-agents/triage", "github/create_issue", ""), pdp.Decision{Allowed: true}); ok {
		t.Error("an allow was made requestable")
	}
}

func TestBindingIsChecked(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	triage := f.caller("Agent", "acme-agents/triage")
	call := toolCall("acme-agents/triage", "payments/refund", `{"task":"t1"}`)

	swapped := f.deny(call)
	swapped.Resource.ID = "payments/chargeback"
	_, _, err := f.svc.Submit(ctx, triage, swapped, "")
	wantProblem(t, err, http.StatusBadRequest, grants.ProblemInvalidBinding)

	otherTask := f.deny(call)
	otherTask.Context = json.RawMessage(`{"task":"t2"}`)
	_, _, err = f.svc.Submit(ctx, triage, otherTask, "")
	wantProblem(t, err, http.StatusBadRequest, grants.ProblemInvalidBinding)

	forged := f.deny(call)
	forged.Denial.BindingToken = forged.Denial.BindingToken[:len(forged.Denial.BindingToken)-4] + "AAAA"
	_, _, err = f.svc.Submit(ctx, triage, forged, "")
	wantProblem(t, err, http.StatusBadRequest, grants.ProblemInvalidBinding)

	missing := f.deny(call)
	missing.Denial.BindingToken = ""
	_, _, err = f.svc.Submit(ctx, triage, missing, "")
	wantProblem(t, err, http.StatusBadRequest, grants.ProblemInvalidBinding)

	late := f.deny(call)
	f.now = f.now.Add(11 * time.Minute)
	_, _, err = f.svc.Submit(ctx, triage, late, "")
	wantProblem(t, err, http.StatusGone, grants.ProblemExpiredDenial)

	f.now = f.now.Add(-11 * time.Minute)
	spoof := f.deny(call)
	_, _, err = f.svc.Submit(ctx, f.caller("Agent", "acme-agents/assistant"), spoof, "")
	wantProblem(t, err, http.StatusForbidden, grants.ProblemForbidden)
}

func TestPendingTaskExpires(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	sub := f.deny(toolCall("acme-agents/triage", "payments/refund", `{"task":"t"}`))
	r, _, err := f.svc.Submit(ctx, f.caller("Agent", "acme-agents/triage"), sub, "")
	if err != nil {
		t.Fatal(err)
	}
	f.now = r.ExpiresAt.Add(time.Second)
	_, err = f.svc.Approve(ctx, f.caller("User", "alice@acme.example"), r.ID, "late")
	wantProblem(t, err, http.StatusGone, grants.ProblemTaskExpired)
	got, _ := f.store.Get(ctx, r.ID)
	if got.Status != grants.StatusExpired {
		t.Errorf("status %s, want expired", got.Status)
	}
}

func TestCancel(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	triage := f.caller("Agent", "acme-agents/triage")
	sub := f.deny(toolCall("acme-agents/triage", "payments/refund", `{"task":"t"}`))
	r, _, err := f.svc.Submit(ctx, triage, sub, "")
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.svc.Cancel(ctx, f.caller("User", "alice@acme.example"), r.ID, "not yours")
	wantProblem(t, err, http.StatusNotFound, grants.ProblemUnknownTask)
	if _, err := f.svc.Cancel(ctx, triage, r.ID, "done without it"); err != nil {
		t.Fatal(err)
	}
	_, err = f.svc.Cancel(ctx, triage, r.ID, "again")
	wantProblem(t, err, http.StatusConflict, grants.ProblemInvalidTaskState)
}

// TestReconcileRepairsAMissedWatch: changes the watch never delivered are
// picked up from the store.
func TestReconcileRepairsAMissedWatch(t *testing.T) {
	ctx := context.Background()
	store, err := grants.OpenBolt(filepath.Join(t.TempDir(), "g.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = store.Close() }()
	now := time.Now()
	live := pdp.NewGrants()
	approved := func(id string) *grants.Request {
		return &grants.Request{ID: id, Principal: grants.UID{Type: "Agent", ID: "a/b"}, CedarAction: grants.UID{Type: "Action", ID: "call_tool"},
			CedarResource: grants.UID{Type: "Tool", ID: "t"}, Status: grants.StatusApproved, ApprovedUntil: now.Add(time.Hour), CreatedAt: now}
	}
	// Missed approval: in the store, not live.
	if err := store.Create(ctx, approved("missed")); err != nil {
		t.Fatal(err)
	}
	// Missed revocation: live, revoked in the store.
	gone := approved("revoked")
	if err := store.Create(ctx, gone); err != nil {
		t.Fatal(err)
	}
	g, _ := gone.Grant()
	live.Put(g)
	gone.Status = grants.StatusRevoked
	if err := store.Update(ctx, gone); err != nil {
		t.Fatal(err)
	}
	// A stale live grant the store does not know at all.
	live.Put(pdp.Grant{ID: "ghost", Until: now.Add(time.Hour)})
	if err := grants.Reconcile(ctx, store, live); err != nil {
		t.Fatal(err)
	}
	if _, ok := live.Get("missed"); !ok {
		t.Error("missed approval not applied")
	}
	if _, ok := live.Get("revoked"); ok {
		t.Error("missed revocation not applied")
	}
	if _, ok := live.Get("ghost"); ok {
		t.Error("unknown grant kept")
	}
}
