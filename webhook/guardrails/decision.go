package guardrails

import (
	"fmt"
	"strings"
)

// Violation is one failed guardrail.
type Violation struct {
	// ID is the control ID (shared/CONTROLS.md), or a custom rule's ID.
	ID string `json:"id"`
	// Check is the name of the check that found it (e.g. "psa.runAsUser",
	// "resources", "rego").
	Check string `json:"check"`
	// Message starts with "[ID] ", names the container and field, and says
	// how to fix it.
	Message string `json:"message"`
	// Mode is how the violation is enforced.
	Mode Mode `json:"mode"`
}

// Decision is the outcome of evaluating one object.
type Decision struct {
	// Allowed is false when at least one violation is enforced.
	Allowed bool `json:"allowed"`
	// Exempt, when non-empty, says why no guardrail applied.
	Exempt string `json:"exempt,omitempty"`
	// Agent is the agent ID (pod label agentguard.io/agent), if any.
	Agent string `json:"agent,omitempty"`
	// Tenant is the tenant of the namespace, if any.
	Tenant string `json:"tenant,omitempty"`
	// Violations lists every violation found, in all modes.
	Violations []Violation `json:"violations,omitempty"`
}

// Denials returns the enforced violations.
func (d *Decision) Denials() []Violation { return d.byMode(ModeEnforce) }

// Warnings returns the messages of violations in warn mode.
func (d *Decision) Warnings() []string {
	var out []string
	for _, v := range d.byMode(ModeWarn) {
		out = append(out, v.Message)
	}
	return out
}

// Audits returns the violations in audit mode.
func (d *Decision) Audits() []Violation { return d.byMode(ModeAudit) }

func (d *Decision) byMode(m Mode) []Violation {
	var out []Violation
	for _, v := range d.Violations {
		if v.Mode == m {
			out = append(out, v)
		}
	}
	return out
}

// Reason joins the enforced violations' messages, one per line, for an
// AdmissionResponse status message.
func (d *Decision) Reason() string {
	var b strings.Builder
	for i, v := range d.Denials() {
		if i > 0 {
			b.WriteString("\n")
		}
		b.WriteString(v.Message)
	}
	return b.String()
}

func message(id, format string, args ...any) string {
	return "[" + id + "] " + fmt.Sprintf(format, args...)
}
