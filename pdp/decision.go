package pdp

import (
	"time"

	"github.com/cedar-policy/cedar-go/types"
)

// Decision is the answer to one authorization request.
type Decision struct {
	// ID identifies this decision in logs, traces and the decision log.
	ID string `json:"id"`
	// Allowed is true only when a permit matched and no forbid did.
	Allowed bool `json:"allowed"`
	// Reasons are the @id of the policies that determined the decision: the
	// matching forbids for a denial caused by a forbid, the matching permits
	// for an allow, and none for a default deny. Sorted.
	Reasons []string `json:"reasons,omitempty"`
	// Errors are policies whose evaluation failed; such a policy does not
	// contribute to the decision (Cedar semantics).
	Errors []EvalError `json:"errors,omitempty"`
	// Revision is the bundle revision that decided.
	Revision string `json:"revision"`
	// At is the PDP's time of the decision, the context.now its policies
	// saw.
	At time.Time `json:"at,omitzero"`

	// context is the Cedar context the policies saw.
	context types.Record
}

// RequestString returns the caller's context.<key> (the AuthZEN request
// context, as mapped into the Cedar context's "request" record) if it is a
// string, or "". It reads the request as decided, with no second parse.
func (d *Decision) RequestString(key string) string {
	v, ok := d.context.Get(ContextRequest)
	if !ok {
		return ""
	}
	rec, ok := v.(types.Record)
	if !ok {
		return ""
	}
	if s, ok := rec.Get(types.String(key)); ok {
		if str, ok := s.(types.String); ok {
			return string(str)
		}
	}
	return ""
}

// EvalError is a policy that could not be evaluated for a request.
type EvalError struct {
	PolicyID string `json:"policy"`
	Message  string `json:"message"`
}
