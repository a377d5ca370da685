package pdp

import "time"

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
}

// EvalError is a policy that could not be evaluated for a request.
type EvalError struct {
	PolicyID string `json:"policy"`
	Message  string `json:"message"`
}
