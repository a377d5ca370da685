package kube_test

import (
	"context"
	"fmt"
	"time"

	"k8s.io/client-go/rest"

	"github.com/agentguard/agentguard/pdp/grants"
	"github.com/agentguard/agentguard/pdp/grants/kube"
)

// A PDP replica in a cluster keeps its grants as AgentGrants in its own
// namespace and follows every replica's changes through Watch.
func ExampleNew() {
	cfg, err := rest.InClusterConfig()
	if err != nil {
		fmt.Println(err)
		return
	}
	store, err := kube.New(kube.Options{Config: cfg, Namespace: "agentguard-system", RequestTimeout: 5 * time.Second})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		_ = store.Watch(ctx, func(r *grants.Request) {
			if r.Active(time.Now()) {
				fmt.Println("grant in force:", r.ID, r.Principal, r.CedarAction, r.CedarResource)
			}
		})
	}()
	active, err := store.List(ctx, grants.Filter{Principal: `Agent::"acme-agents/triage"`, Status: []grants.Status{grants.StatusApproved}})
	fmt.Println(len(active), err)
}
