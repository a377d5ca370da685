package pdp_test

import (
	"fmt"

	"github.com/agentguard/agentguard/pdp"
)

func ExampleEngine_Evaluate() {
	eng, err := pdp.Load("../policies", pdp.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	d, err := eng.Evaluate(&pdp.Request{
		Subject:  pdp.Entity{Type: "agent", ID: "acme-agents/triage"},
		Action:   pdp.Action{Name: "call_tool"},
		Resource: pdp.Entity{Type: "tool", ID: "crm/export_contacts"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(d.Allowed, d.Reasons)
	// Output: false [forbid-cross-tenant]
}
