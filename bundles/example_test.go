package bundles_test

import (
	"context"
	"crypto"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"

	"github.com/agentguard/agentguard/bundles"
	"github.com/agentguard/agentguard/bundles/check"
	"github.com/agentguard/agentguard/pdp"
	"github.com/agentguard/agentguard/webhook/guardrails"
)

// engines is what a server switches atomically: requests load the pointer
// once and finish on the revision they started with.
type engines struct {
	pdp       *pdp.Engine
	admission *guardrails.Engine
	revision  string
}

// ExampleManager wires a Manager the way `agentguard serve` does: every new
// verified bundle is compiled into a PDP engine and an admission engine,
// and both switch together. A bundle that does not compile is refused and
// the previous one stays active.
func ExampleManager() {
	ctx := context.Background()
	tmp, _ := os.MkdirTemp("", "bundles-example")
	defer func() { _ = os.RemoveAll(tmp) }()

	// A signed copy of the default bundle (`agentguard bundle sign`).
	key, _ := bundles.GenerateKey(bundles.ES256)
	b, err := bundles.Read("../policies", bundles.Limits{})
	if err != nil {
		fmt.Println(err)
		return
	}
	signed, _ := bundles.Sign(b, key, bundles.SignOptions{})
	archive := filepath.Join(tmp, "bundle.tar.gz")
	data, _ := bundles.MarshalArchive(signed)
	_ = os.WriteFile(archive, data, 0o644)

	var current atomic.Pointer[engines]
	m, err := bundles.NewManager(bundles.Options{
		Source:     archive, // or a directory, https://..., oci://...
		PublicKeys: []crypto.PublicKey{key.Public()},
		CacheDir:   filepath.Join(tmp, "cache"), // last-known-good
		Activate: func(ctx context.Context, b *bundles.Bundle) error {
			c, err := check.Compile(ctx, b, check.Options{})
			if err != nil {
				return err
			}
			current.Store(&engines{pdp: c.PDP, admission: c.Admission, revision: b.Revision()})
			return nil
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- m.Run(ctx) }()
	<-m.Ready() // readiness: false until a verified bundle is active

	st := m.Status()
	fmt.Println("active:", st.Name, st.Revision, "verified:", st.Verified)
	fmt.Println("engines:", current.Load().revision, current.Load().pdp != nil, current.Load().admission != nil)
	cancel()
	fmt.Println("run:", <-done)
	// Output:
	// active: default 2026.11.27-1 verified: true
	// engines: 2026.11.27-1 true true
	// run: <nil>
}
