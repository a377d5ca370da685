package main

import (
	"errors"
	"fmt"
	"log/slog"

	crconfig "sigs.k8s.io/controller-runtime/pkg/client/config"

	"github.com/agentguard/agentguard/pdp/grants"
	"github.com/agentguard/agentguard/pdp/grants/kube"
)

// openKubeGrantStore keeps grants as AgentGrant resources: every replica
// watches them, so the cluster is the distributed store.
func openKubeGrantStore(o *serveOptions, log *slog.Logger) (grants.Store, func(), error) {
	if o.grantNamespace == "" {
		return nil, nil, errors.New("--grant-store kubernetes needs --grant-namespace (or $POD_NAMESPACE)")
	}
	cfg, err := crconfig.GetConfig()
	if err != nil {
		return nil, nil, fmt.Errorf("--grant-store kubernetes: %w", err)
	}
	// Approvals from several replicas contend for the same objects: allow
	// more than client-go's default 5 requests per second.
	cfg.QPS, cfg.Burst = 50, 100
	s, err := kube.New(kube.Options{Config: cfg, Namespace: o.grantNamespace, OnWatchError: func(err error) {
		log.Warn("grant watch interrupted; cached grants stay in force until their own expiry", "error", err)
	}})
	if err != nil {
		return nil, nil, err
	}
	return s, func() {}, nil
}
