// Package pdptest assembles a complete PDP (engine, live grants, grant
// service and its sync, AuthZEN server) for tests, the way `agentguard
// serve --pdp` does, and mints static bearer tokens for test callers.
package pdptest

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agentguard/agentguard/pdp"
	"github.com/agentguard/agentguard/pdp/authn"
	"github.com/agentguard/agentguard/pdp/authzen"
	"github.com/agentguard/agentguard/pdp/grants"
)

// Options configures New. Zero values are filled as their comments say.
type Options struct {
	// Bundle is the bundle directory. Required.
	Bundle string
	// Now is the PDP's clock. Default time.Now.
	Now func() time.Time
	// Store keeps grants. Default: a bbolt file in a temporary directory.
	Store grants.Store
	// Key signs binding tokens. Default: a fresh Ed25519 key.
	Key ed25519.PrivateKey
	// Issuer names the PDP in binding tokens. Default "agentguard-pdp".
	Issuer string
	// Server holds the other authzen.Options (Authenticator, BaseURL,
	// Audit, metrics, ...); Engines, Grants, GrantStore and Signer are set
	// by New.
	Server authzen.Options
}

// PDP is a running PDP (not listening: serve Handler yourself).
type PDP struct {
	Handler *authzen.Server
	Engine  *pdp.Engine
	Live    *pdp.Grants
	Store   grants.Store
	Service *grants.Service
	Signer  *grants.Signer
}

// New builds the PDP; its grant sync stops when the test ends.
func New(t testing.TB, opts Options) *PDP {
	t.Helper()
	p := &PDP{Live: pdp.NewGrants(), Store: opts.Store}
	eng, err := pdp.Load(opts.Bundle, pdp.Options{Grants: p.Live, Now: opts.Now})
	if err != nil {
		t.Fatal(err)
	}
	p.Engine = eng
	if p.Store == nil {
		bolt, err := grants.OpenBolt(filepath.Join(t.TempDir(), "grants.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = bolt.Close() })
		p.Store = bolt
	}
	key := opts.Key
	if key == nil {
		if _, key, err = ed25519.GenerateKey(rand.Reader); err != nil {
			t.Fatal(err)
		}
	}
	if opts.Issuer == "" {
		opts.Issuer = "agentguard-pdp"
	}
	if p.Signer, err = grants.NewSigner(key, "k1", opts.Issuer); err != nil {
		t.Fatal(err)
	}
	engines := func() *pdp.Engine { return eng }
	if p.Service, err = grants.NewService(grants.Options{Store: p.Store, Engines: engines, Signer: p.Signer}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() { _ = grants.Sync(ctx, p.Store, p.Live) }()
	so := opts.Server
	so.Engines, so.Grants, so.GrantStore, so.Signer = authzen.EngineFunc(engines), p.Service, p.Store, p.Signer
	if p.Handler, err = authzen.New(so); err != nil {
		t.Fatal(err)
	}
	return p
}

// Tokens mints a bearer token for each named principal and returns the
// tokens by name and the static-token authenticator that accepts them.
func Tokens(t testing.TB, principals map[string]authn.StaticPrincipal) (map[string]string, *authn.StaticTokens) {
	t.Helper()
	tokens := map[string]string{}
	var file strings.Builder
	for name, p := range principals {
		tok, err := authn.NewToken()
		if err != nil {
			t.Fatal(err)
		}
		tokens[name] = tok
		fmt.Fprintf(&file, "- sha256: %s\n  principal: {type: %s, id: %q}\n", authn.HashToken(tok), p.Type, p.ID)
	}
	static, err := authn.ParseStaticTokens([]byte(file.String()))
	if err != nil {
		t.Fatal(err)
	}
	return tokens, static
}
