package conformance_test

import (
	"context"
	"fmt"
	"log"

	"github.com/agentguard/agentguard/conformance"
)

// Run checks the selected controls. Here only the fallback declaration of
// the default bundle is linted, which needs neither a cluster nor a PDP.
func ExampleRun() {
	profile := conformance.DefaultProfile()
	profile.Bundle = "../policies"
	rep, err := conformance.Run(context.Background(), conformance.Options{
		Controls: []string{"AG-CC-005", "AG-SEC-101"},
		Profile:  profile,
	})
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range rep.Results {
		fmt.Println(r.ID, r.Status)
	}
	fmt.Println("core failures:", rep.Summary.CoreFailures)
	// Output:
	// AG-CC-005 PASS
	// AG-SEC-101 MANUAL
	// core failures: 0
}
