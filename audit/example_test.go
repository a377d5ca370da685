package audit_test

import (
	"fmt"
	"log"
	"os"

	"github.com/agentguard/agentguard/audit"
)

// A PDP opens the log once, appends one record per decision without
// waiting for the disk, and closes it on shutdown; an auditor verifies the
// directory with the public key.
func Example() {
	dir, err := os.MkdirTemp("", "decisions")
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = os.RemoveAll(dir) }()
	pub, priv, err := audit.GenerateKey()
	if err != nil {
		log.Fatal(err)
	}
	redactor, err := audit.NewRedactor(audit.RedactionRules{Keys: []string{"*ssn*"}}, nil)
	if err != nil {
		log.Fatal(err)
	}

	l, err := audit.Open(dir, audit.Options{SigningKey: priv, Redactor: redactor})
	if err != nil {
		log.Fatal(err)
	}
	l.Append(audit.Record{
		Kind:     audit.KindPDPDecision,
		Agent:    "acme-agents/triage",
		Tool:     "crm/export_contacts",
		Action:   "call_tool",
		Decision: audit.DecisionDeny,
		Reason:   "forbidden: the tool belongs to another tenant",
		Policies: []string{"forbid-cross-tenant"},
		Revision: "rev-42",
		Args:     []byte(`{"customer_ssn":"123-45-6789","authorization":"Bearer abc.def"}`),
	})
	if err := l.Close(); err != nil {
		log.Fatal(err)
	}

	rep, err := audit.Verify(dir, pub)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("records %d, sealed %d, unsealed %d\n", rep.Records, rep.SealedSeq, rep.Unsealed)

	c, err := audit.OpenCursor(dir, 0)
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	r, _, err := c.Next()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(r.Seq, r.Kind, r.Agent, r.Decision, r.Policies, string(r.Args))
	// Output:
	// records 1, sealed 1, unsealed 0
	// 1 pdp_decision acme-agents/triage deny [forbid-cross-tenant] {"authorization":"[REDACTED]","customer_ssn":"[REDACTED]"}
}
