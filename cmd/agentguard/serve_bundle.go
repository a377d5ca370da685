package main

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/cedar-policy/cedar-go/types"
	"k8s.io/client-go/kubernetes"
	crconfig "sigs.k8s.io/controller-runtime/pkg/client/config"

	"github.com/agentguard/agentguard/audit"
	"github.com/agentguard/agentguard/bundles"
	"github.com/agentguard/agentguard/bundles/check"
	"github.com/agentguard/agentguard/internal/telemetry"
	"github.com/agentguard/agentguard/pdp"
	"github.com/agentguard/agentguard/pdp/registry"
	"github.com/agentguard/agentguard/webhook/guardrails"
)

// activation is one bundle revision compiled for both halves. It switches
// as a whole: a request loads it once and finishes on the revision it
// started with.
type activation struct {
	pdp       *pdp.Engine
	admission *guardrails.Engine
	revision  string
}

// process is what the PDP and the webhook of one `agentguard serve` share:
// the active bundle and the live grants.
type process struct {
	active   atomic.Pointer[activation]
	grants   *pdp.Grants
	bundles  *bundles.Manager
	registry *registry.Registry // nil without --agent-registry
	audit    *audit.Log

	mu        sync.Mutex
	listeners []func(*activation)
}

// PDP is the active PDP engine, or nil before the first bundle.
func (p *process) PDP() *pdp.Engine {
	if a := p.active.Load(); a != nil {
		return a.pdp
	}
	return nil
}

// onActivate calls f with the active bundle now (if any) and after every
// activation.
func (p *process) onActivate(f func(*activation)) {
	p.mu.Lock()
	p.listeners = append(p.listeners, f)
	a := p.active.Load()
	p.mu.Unlock()
	if a != nil {
		f(a)
	}
}

func (p *process) activate(a *activation) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.active.Store(a)
	for _, f := range p.listeners {
		f(a)
	}
}

// newProcess sets up the bundle manager for --bundle: verified with
// --bundle-pubkey unless --insecure-skip-bundle-verify, the last-known-good
// copy kept in the data directory.
func newProcess(o *serveOptions, tel *telemetry.Telemetry, log *slog.Logger) (*process, error) {
	p := &process{grants: pdp.NewGrants()}
	var entities types.EntityGetter
	if o.agentRegistry {
		cfg, err := crconfig.GetConfig()
		if err != nil {
			return nil, fmt.Errorf("--agent-registry: %w", err)
		}
		cs, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			return nil, err
		}
		if p.registry, err = registry.New(registry.Options{Client: cs, DefaultTenant: o.defaultTenant}); err != nil {
			return nil, err
		}
		entities = p.registry
	}
	var keys []crypto.PublicKey
	for _, f := range o.bundlePubKeys {
		k, err := bundles.ReadPublicKeyFile(f)
		if err != nil {
			return nil, fmt.Errorf("--bundle-pubkey: %w", err)
		}
		keys = append(keys, k)
	}
	if o.insecureSkipBundleVerify {
		log.Warn("INSECURE: bundle signatures are not verified (--insecure-skip-bundle-verify); any file at the source becomes policy")
	}
	log = log.With("component", "bundles")
	m, err := bundles.NewManager(bundles.Options{
		Source:             o.bundle,
		PublicKeys:         keys,
		InsecureSkipVerify: o.insecureSkipBundleVerify,
		MinRevision:        o.bundleMinRevision,
		Version:            version,
		CacheDir:           filepath.Join(o.dataDir, "bundle-cache"),
		PollInterval:       o.bundlePollInterval,
		MeterProvider:      tel.MeterProvider,
		Observe: func(e bundles.Event) {
			if e.Err != nil {
				log.Error("bundle refused; the last good bundle stays active", "source", e.Source, "reason", e.Reason, "revision", e.Revision, "error", e.Err)
				return
			}
			log.Info("bundle activated", "source", e.Source, "name", e.Name, "revision", e.Revision, "signer", e.Signer)
		},
		Activate: func(ctx context.Context, b *bundles.Bundle) error {
			c, err := check.Compile(ctx, b, check.Options{PDP: pdp.Options{Grants: p.grants, Entities: entities}})
			if err != nil {
				return err
			}
			if p.registry != nil {
				if err := p.registry.SetSchema(bundleSchema(b)); err != nil {
					return fmt.Errorf("agent registry: %w", err)
				}
			}
			if o.pdp && c.PDP == nil {
				return errors.New("bundle has no pdp/ part, which the PDP needs")
			}
			if o.webhook && c.Admission == nil {
				return errors.New("bundle has no admission/ part, which the webhook needs")
			}
			p.activate(&activation{pdp: c.PDP, admission: c.Admission, revision: b.Revision()})
			return nil
		},
	})
	if err != nil {
		return nil, err
	}
	p.bundles = m
	return p, nil
}

// bundleSchema returns the bundle's Cedar schema file, or nil.
func bundleSchema(b *bundles.Bundle) []byte {
	for _, f := range b.Files() {
		if strings.HasPrefix(f, "pdp/") && strings.HasSuffix(f, ".cedarschema") {
			data, _ := b.ReadFile(f)
			return data
		}
	}
	return nil
}
