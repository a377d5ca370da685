package images_test

import (
	"context"
	"fmt"

	"github.com/agentguard/agentguard/webhook/images"
)

// A policy is compiled once per bundle revision and verified against by a
// long-lived Verifier. Images outside every policy need no registry.
func ExampleVerifier_Verify() {
	policy, err := images.Parse([]byte(`
unmatched: deny
policies:
  - name: corp
    images: ["registry.corp.example/agents/**"]
    authorities:
      - key:
          secretRef: {namespace: agentguard-system, name: image-signing-key}
`), nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	v, err := images.NewVerifier(images.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	vd := v.Verify(context.Background(), policy, "busybox:1.36", nil)
	fmt.Println(vd.Outcome, vd.Allowed, vd.Enforced, vd.ID())
	fmt.Println(vd.Message())
	// Output:
	// unmatched false true AG-GEN-004
	// image "busybox:1.36" comes from repository docker.io/library/busybox, which no image policy covers; fix: use an image covered by a policy in admission/images.yaml, or add a policy for docker.io/library/busybox
}
