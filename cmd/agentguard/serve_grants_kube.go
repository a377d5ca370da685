package main

import (
	"errors"
	"fmt"

	crconfig "sigs.k8s.io/controller-runtime/pkg/client/config"

	"github.com/agentguard/agentguard/pdp/grants"
	"github.com/agentguard/agentguard/pdp/grants/kube"
)

// openKubeGrantStore keeps grants as AgentGrant resources: every replica
// watches them, so the cluster is the distributed store.
func openKubeGrantStore(o *serveOptions) (grants.Store, func(), error) {
	if o.grantNamespace == "" {
		return nil, nil, errors.New("--grant-store kubernetes needs --grant-namespace (or $POD_NAMESPACE)")
	}
	cfg, err := crconfig.GetConfig()
	if err != nil {
		return nil, nil, fmt.Errorf("--grant-store kubernetes: %w", err)
	}
	s, err := kube.New(kube.Options{Config: cfg, Namespace: o.grantNamespace})
	if err != nil {
		return nil, nil, err
	}
	return s, func() {}, nil
}
