package webhook_test

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/agentguard/agentguard/webhook"
	"github.com/agentguard/agentguard/webhook/guardrails"
)

// Admit a Deployment offline, as `agentguard admit` does: secure defaults
// first, then the guardrails on the mutated object.
func ExampleReviewer_Admit() {
	e, err := guardrails.New(context.Background(), guardrails.Options{})
	if err != nil {
		panic(err)
	}
	deploy := []byte(`{"apiVersion": "apps/v1", "kind": "Deployment",
	  "metadata": {"name": "bot", "namespace": "team-a"},
	  "spec": {"selector": {"matchLabels": {"app": "bot"}},
	    "template": {"metadata": {"labels": {"app": "bot", "agentguard.io/agent": "bot"}},
	      "spec": {"serviceAccountName": "bot", "containers": [{"name": "app", "image": "registry.corp.example/bot:1"}]}}}}`)
	rv := &webhook.Reviewer{Offline: true}
	res, err := rv.Admit(context.Background(), e, &webhook.Request{
		Kind: schema.GroupKind{Group: "apps", Kind: "Deployment"}, Operation: "CREATE", Namespace: "team-a",
		Object: deploy, NamespaceLabels: map[string]string{guardrails.LabelTenant: "team-a"},
	}, true)
	if err != nil {
		panic(err)
	}
	fmt.Println("allowed:", res.Allowed())
	fmt.Println("set:", res.Mutation.Changes)
	// Output:
	// allowed: true
	// set: [allowPrivilegeEscalation automountServiceAccountToken capabilities resources runAsNonRoot seccompProfile]
}
