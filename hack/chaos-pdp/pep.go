package main

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/agentguard/agentguard/bundles"
	"github.com/agentguard/agentguard/pdp"
	"github.com/agentguard/agentguard/pdp/client"
)

// Agents the clients act for.
const (
	agentTriage    = "acme-agents/triage"
	agentAssistant = "acme-agents/assistant"
	userAlice      = "alice@acme.example"
)

// pep is one policy enforcement point: a pdp/client with its own verified
// copy of the bundle (kept fresh from the bundle server) and grant
// snapshot, calling one replica for one agent.
type pep struct {
	id      int
	agent   string
	replica *replica
	calls   []pdp.Request

	cl       *client.Client
	bundles  *bundles.Manager
	local    atomic.Pointer[pdp.Engine]
	snapshot *pdp.Grants
	// skew is added to this client's clock (nanoseconds).
	skew atomic.Int64
	// fallbacks counts the fallback decisions (records queued).
	fallbacks atomic.Int64
	// lastPDP is when the latest call the PDP answered started (Unix ns).
	lastPDP atomic.Int64
}

func (p *pep) String() string {
	return fmt.Sprintf("c%d(%s→%s)", p.id, p.agent, p.replica.name)
}

func (p *pep) now() time.Time { return time.Now().Add(time.Duration(p.skew.Load())) }

// newPEP builds the client; start runs its background work.
func newPEP(id int, agent, token string, r *replica, cfg config, bundleURL string, bundleHTTP *http.Client, pub crypto.PublicKey) (*pep, error) {
	p := &pep{id: id, agent: agent, replica: r, calls: callMix(agent), snapshot: pdp.NewGrants()}
	m, err := bundles.NewManager(bundles.Options{
		Source:        bundleURL,
		SourceOptions: bundles.SourceOptions{HTTPClient: bundleHTTP},
		PublicKeys:    []crypto.PublicKey{pub},
		PollInterval:  time.Second,
		FetchTimeout:  2 * time.Second,
		Activate: func(_ context.Context, b *bundles.Bundle) error {
			src, err := pdp.ReadFS(b.FS())
			if err != nil {
				return err
			}
			eng, err := pdp.New(src, pdp.Options{Grants: p.snapshot})
			if err != nil {
				return err
			}
			p.local.Store(eng)
			return nil
		},
	})
	if err != nil {
		return nil, err
	}
	p.bundles = m
	p.cl, err = client.New(client.Options{
		BaseURL:         r.url,
		Token:           client.StaticToken(token),
		Timeout:         cfg.Timeout,
		Retries:         2,
		BreakerFailures: 3,
		BreakerOpenFor:  cfg.BreakerOpenFor,
		Policy:          p.local.Load,
		Grants:          p.snapshot,
		GrantsRefresh:   time.Second,
		Now:             p.now,
		OnFallback:      func(client.Record) { p.fallbacks.Add(1) },
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// start runs the bundle sync and the grant refresh until ctx ends.
func (p *pep) start(ctx context.Context, g *group) {
	g.Go(func() { _ = p.bundles.Run(ctx) })
	g.Go(func() { p.cl.KeepGrantsFresh(ctx) })
}

// flush sends the queued fallback records until none is pending or the
// time runs out. A panic inside the client is returned as a *clientPanic.
func (p *pep) flush(ctx context.Context, within time.Duration) error {
	deadline := time.Now().Add(within)
	for p.cl.Pending() > 0 {
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: %d fallback records still queued after %s", p, p.cl.Pending(), within)
		}
		fctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := p.flushOnce(fctx)
		cancel()
		var cp *clientPanic
		if errors.As(err, &cp) {
			return fmt.Errorf("%s: %w", p, err)
		}
		if err != nil && ctx.Err() != nil {
			return ctx.Err()
		}
		if p.cl.Pending() > 0 {
			time.Sleep(100 * time.Millisecond)
		}
	}
	return nil
}

// clientPanic is a panic inside pdp/client, with its stack.
type clientPanic struct {
	value any
	stack []byte
}

func (e *clientPanic) Error() string {
	return fmt.Sprintf("pdp/client panicked: %v\n%s", e.value, e.stack)
}

func (p *pep) flushOnce(ctx context.Context) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &clientPanic{value: v, stack: debug.Stack()}
		}
	}()
	return p.cl.Flush(ctx)
}

func call(agent, tool string, context map[string]string) pdp.Request {
	r := pdp.Request{
		Subject:  pdp.Entity{Type: "agent", ID: agent},
		Action:   pdp.Action{Name: "call_tool"},
		Resource: pdp.Entity{Type: "tool", ID: tool},
	}
	if len(context) > 0 {
		r.Context, _ = json.Marshal(context)
	}
	return r
}

// callMix is what an agent calls, in turn: for each fallback mode, calls
// the PDP allows (by policy or by a grant) and calls it denies.
func callMix(agent string) []pdp.Request {
	if agent == agentAssistant {
		// A user-delegated agent: allowed only on behalf of a user, and
		// only search_issues.
		return []pdp.Request{
			call(agent, toolSearch, map[string]string{"user": userAlice}),
			call(agent, toolSearch, nil), // allow mode, but the PDP denies
			call(agent, toolCreate, map[string]string{"user": userAlice}),
			call(agent, toolMerge, map[string]string{"user": userAlice}),
			call(agent, toolDelete, map[string]string{"user": userAlice}),
		}
	}
	return []pdp.Request{
		call(agent, toolSearch, nil),
		call(agent, toolCreate, map[string]string{"session": "s1"}),
		call(agent, toolDelete, nil),
		call(agent, toolMerge, nil),
		call(agent, toolRefund, map[string]string{"task": "INC-7"}),
		call(agent, toolCreate, map[string]string{"session": "s2"}),
		call(agent, toolRefund, map[string]string{"task": "INC-8"}),
		call(agent, toolContact, nil),
		call(agent, toolMerge, map[string]string{"task": "INC-7"}),
	}
}
