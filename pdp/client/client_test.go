package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentguard/agentguard/pdp"
	"github.com/agentguard/agentguard/pdp/authn"
	"github.com/agentguard/agentguard/pdp/authzen"
	"github.com/agentguard/agentguard/pdp/client"
)

// pdpServer is a real AuthZEN server (no authentication) that can be taken
// down, made to hang, or made to fail, and that keeps the fallback records
// it receives.
type pdpServer struct {
	*httptest.Server
	mode     atomic.Value // "up", "hang", "fail503"
	mu       sync.Mutex
	received []client.Record
	dropped  int
}

func newPDP(t *testing.T) (*pdpServer, *pdp.Engine) {
	t.Helper()
	eng, err := pdp.Load("../../policies", pdp.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p := &pdpServer{}
	p.mode.Store("up")
	api, err := authzen.New(authzen.Options{
		Engines:                      authzen.EngineFunc(func() *pdp.Engine { return eng }),
		InsecureAllowUnauthenticated: true,
		OnFallbackRecords: func(_ context.Context, _ *authn.Identity, b client.RecordBatch) {
			p.mu.Lock()
			p.received = append(p.received, b.Records...)
			p.dropped += b.Dropped
			p.mu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch p.mode.Load() {
		case "hang":
			select {
			case <-r.Context().Done():
			case <-time.After(time.Second):
			}
			return
		case "fail503":
			http.Error(w, "overloaded", http.StatusServiceUnavailable)
			return
		}
		api.ServeHTTP(w, r)
	}))
	t.Cleanup(p.Close)
	return p, eng
}

func req(agent, tool, ctx string) *pdp.Request {
	r := &pdp.Request{Subject: pdp.Entity{Type: "agent", ID: agent}, Action: pdp.Action{Name: "call_tool"}, Resource: pdp.Entity{Type: "tool", ID: tool}}
	if ctx != "" {
		r.Context = json.RawMessage(ctx)
	}
	return r
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func newClient(t *testing.T, url string, eng *pdp.Engine, clk *clock, mod func(*client.Options)) *client.Client {
	t.Helper()
	opts := client.Options{
		BaseURL:         url,
		Timeout:         300 * time.Millisecond,
		BreakerFailures: 3,
		BreakerOpenFor:  time.Hour,
		Policy:          func() *pdp.Engine { return eng },
		Now:             clk.now,
	}
	if mod != nil {
		mod(&opts)
	}
	c, err := client.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func evaluate(t *testing.T, c *client.Client, r *pdp.Request) client.Decision {
	t.Helper()
	start := time.Now()
	d, err := c.Evaluate(context.Background(), r)
	if err != nil {
		t.Fatalf("evaluate %v: %v", r.Resource.ID, err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("a call blocked %s, past its 300ms deadline", el)
	}
	return d
}

func TestDeclaredFallback(t *testing.T) {
	p, eng := newPDP(t)
	clk := &clock{t: time.Now()}
	c := newClient(t, p.URL, eng, clk, func(o *client.Options) { o.BreakerOpenFor = 200 * time.Millisecond })

	search := req("acme-agents/assistant", "github/search_issues", `{"user":"alice@acme.example"}`)
	if d := evaluate(t, c, search); !d.Allowed || d.Source != client.SourcePDP {
		t.Fatalf("PDP up: %+v", d)
	}
	p.mode.Store("hang")
	tests := []struct {
		name string
		r    *pdp.Request
		mode string
		want bool
	}{
		{"cached: allowed within maxStale", search, pdp.FallbackCached, true},
		{"cached: never allowed by the PDP", req("acme-agents/triage", "github/search_issues", `{"task":"other"}`), pdp.FallbackCached, false},
		{"local: the bundle allows", req("acme-agents/triage", "github/create_issue", ""), pdp.FallbackLocal, true},
		{"local: the bundle forbids", req("globex-agents/sales", "github/create_issue", ""), pdp.FallbackLocal, false},
		{"deny: payments", req("acme-agents/triage", "payments/refund", ""), pdp.FallbackDeny, false},
		{"deny: not listed", req("globex-agents/sales", "crm/export_contacts", ""), pdp.FallbackDeny, false},
	}
	for _, tt := range tests {
		d := evaluate(t, c, tt.r)
		if d.Source != client.SourceFallback || d.Mode != tt.mode || d.Allowed != tt.want {
			t.Errorf("%s: %+v, want fallback %s allowed=%v", tt.name, d, tt.mode, tt.want)
		}
	}
	// Past maxStale the cached allow is gone.
	clk.add(6 * time.Minute)
	if d := evaluate(t, c, search); d.Allowed {
		t.Errorf("cached allow used past maxStale: %+v", d)
	}
	if c.Pending() != len(tests)+1 {
		t.Errorf("%d records queued, want %d", c.Pending(), len(tests)+1)
	}

	// Back up: once the circuit lets a probe through, the queue reaches
	// the PDP's decision log.
	p.mode.Store("up")
	time.Sleep(300 * time.Millisecond)
	if err := c.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	got := len(p.received)
	p.mu.Unlock()
	if got != len(tests)+1 || c.Pending() != 0 {
		t.Errorf("PDP received %d records, %d still pending", got, c.Pending())
	}
}

func TestNoBundleMeansDeny(t *testing.T) {
	p, _ := newPDP(t)
	p.Close()
	c := newClient(t, p.URL, nil, &clock{t: time.Now()}, func(o *client.Options) { o.Policy = nil })
	if d := evaluate(t, c, req("acme-agents/triage", "github/search_issues", "")); d.Allowed || d.Mode != pdp.FallbackDeny {
		t.Fatalf("%+v, want a fallback deny", d)
	}
}

func TestCircuitBreakerOpens(t *testing.T) {
	p, eng := newPDP(t)
	p.mode.Store("hang")
	c := newClient(t, p.URL, eng, &clock{t: time.Now()}, func(o *client.Options) { o.Retries = -1 })
	r := req("acme-agents/triage", "payments/refund", "")
	for i := 0; i < 3; i++ {
		if d := evaluate(t, c, r); d.Reason[:len("unreachable")] != "unreachable" {
			t.Fatalf("call %d: %+v", i, d)
		}
	}
	d := evaluate(t, c, r)
	if d.Source != client.SourceFallback || len(d.Reason) < 12 || d.Reason[:12] != "circuit_open" {
		t.Fatalf("after 3 failures: %+v, want the open circuit to answer", d)
	}
}

func TestRetriesTransientFailure(t *testing.T) {
	p, eng := newPDP(t)
	var calls atomic.Int32
	flaky := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			http.Error(w, "restarting", http.StatusServiceUnavailable)
			return
		}
		p.Config.Handler.ServeHTTP(w, r)
	}))
	defer flaky.Close()
	c := newClient(t, flaky.URL, eng, &clock{t: time.Now()}, nil)
	d := evaluate(t, c, req("acme-agents/triage", "github/create_issue", ""))
	if d.Source != client.SourcePDP || !d.Allowed || calls.Load() != 2 {
		t.Fatalf("%+v after %d calls, want the PDP's allow after one retry", d, calls.Load())
	}
}

func TestRequestErrorsAreNotFallbacks(t *testing.T) {
	p, eng := newPDP(t)
	c := newClient(t, p.URL, eng, &clock{t: time.Now()}, nil)
	_, err := c.Evaluate(context.Background(), req("acme-agents/triage", "github/create_issue", `{"unknown":1}`))
	var re *client.RequestError
	if !errors.As(err, &re) || re.Status != http.StatusBadRequest {
		t.Fatalf("err = %v, want a 400 RequestError", err)
	}
	if c.Pending() != 0 {
		t.Error("a refused request produced a fallback record")
	}
}

func TestCachedNeverPastApprovedUntil(t *testing.T) {
	clk := &clock{t: time.Now()}
	until := clk.now().Add(time.Minute)
	var down atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			http.Error(w, "down", http.StatusBadGateway)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"decision":true,"context":{"approval":{"id":"g","approved_until":"` + until.UTC().Format(time.RFC3339Nano) + `"}}}`))
	}))
	defer srv.Close()
	eng, err := pdp.Load("../../policies", pdp.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, srv.URL, eng, clk, nil)
	r := req("acme-agents/triage", "github/search_issues", "")
	evaluate(t, c, r)
	down.Store(true)
	if d := evaluate(t, c, r); !d.Allowed {
		t.Fatalf("within the grant and maxStale: %+v", d)
	}
	clk.add(2 * time.Minute) // within maxStale (5m), past approved_until
	if d := evaluate(t, c, r); d.Allowed {
		t.Fatalf("cached allow used past the grant's approved_until: %+v", d)
	}
}

func TestQueueSurvivesRestart(t *testing.T) {
	p, eng := newPDP(t)
	file := filepath.Join(t.TempDir(), "queue.jsonl")
	p.mode.Store("fail503")
	clk := &clock{t: time.Now()}
	c := newClient(t, p.URL, eng, clk, func(o *client.Options) { o.QueueFile = file; o.QueueSize = 2 })
	for _, tool := range []string{"payments/refund", "github/create_issue", "crm/export_contacts"} {
		evaluate(t, c, req("acme-agents/triage", tool, ""))
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c2 := newClient(t, p.URL, eng, clk, func(o *client.Options) { o.QueueFile = file; o.QueueSize = 2; o.BreakerOpenFor = time.Millisecond })
	if c2.Pending() != 2 {
		t.Fatalf("%d records after restart, want 2 (the third was dropped: queue size 2)", c2.Pending())
	}
	p.mode.Store("up")
	if err := c2.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(file); len(data) != 0 {
		t.Errorf("queue file still holds %q after the flush", data)
	}
}

func TestFileTokenRereadsOnRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(path, []byte("first\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ft := &client.FileToken{Path: path, CheckEvery: time.Nanosecond}
	if tok, _ := ft.Token(); tok != "first" {
		t.Fatalf("token %q", tok)
	}
	time.Sleep(10 * time.Millisecond)
	if err := os.WriteFile(path+".new", []byte("second-rotated"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".new", path); err != nil {
		t.Fatal(err)
	}
	if tok, _ := ft.Token(); tok != "second-rotated" {
		t.Fatalf("after rotation: %q", tok)
	}
}

// TestFallbackFollowsThePDPClock: a client whose host clock is 10 minutes
// behind still expires a cached allow by the PDP's clock.
func TestFallbackFollowsThePDPClock(t *testing.T) {
	p, eng := newPDP(t)
	clk := &clock{t: time.Now().Add(-10 * time.Minute)}
	c := newClient(t, p.URL, eng, clk, nil)
	search := req("acme-agents/assistant", "github/search_issues", `{"user":"alice@acme.example"}`)
	evaluate(t, c, search)
	if sk := c.ClockSkew(); sk < 9*time.Minute || sk > 11*time.Minute {
		t.Fatalf("skew %s, want about 10m", sk)
	}
	p.mode.Store("hang")
	clk.add(4 * time.Minute)
	if d := evaluate(t, c, search); !d.Allowed {
		t.Fatalf("within maxStale by the PDP clock: %+v", d)
	}
	clk.add(2 * time.Minute) // 6 minutes after the allow: past maxStale (5m)
	if d := evaluate(t, c, search); d.Allowed {
		t.Fatalf("cached allow past maxStale: %+v", d)
	}
}

// TestConcurrentFlushes: background and explicit flushes never send a
// record twice or lose one.
func TestConcurrentFlushes(t *testing.T) {
	p, eng := newPDP(t)
	p.mode.Store("fail503")
	c := newClient(t, p.URL, eng, &clock{t: time.Now()}, func(o *client.Options) { o.BreakerOpenFor = time.Millisecond; o.Retries = -1 })
	for i := 0; i < 50; i++ {
		evaluate(t, c, req("acme-agents/triage", "payments/refund", ""))
	}
	p.mode.Store("up")
	time.Sleep(5 * time.Millisecond)
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Go(func() {
			_ = c.Flush(context.Background())
			_, _ = c.Evaluate(context.Background(), req("acme-agents/triage", "github/create_issue", "")) // may start a background flush
		})
	}
	wg.Wait()
	if err := c.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	refunds := 0
	for _, r := range p.received {
		if r.Resource.ID == "payments/refund" {
			refunds++
		}
	}
	// (The create_issue calls may add records of their own while the
	// circuit is half-open.)
	if refunds != 50 || c.Pending() != 0 {
		t.Fatalf("PDP received %d refund records (want 50), %d pending", refunds, c.Pending())
	}
}
