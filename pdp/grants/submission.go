package grants

import (
	"encoding/json"
	"time"

	"github.com/agentguard/agentguard/pdp"
)

// Submission is an access request body (ARAP §Access Request Submission).
type Submission struct {
	Subject         pdp.Entity      `json:"subject"`
	Action          pdp.Action      `json:"action"`
	Resource        pdp.Entity      `json:"resource"`
	Context         json.RawMessage `json:"context,omitempty"`
	RequestedAccess struct {
		RequestedUntil time.Time `json:"requested_until,omitzero"`
	} `json:"requested_access"`
	Denial Denial `json:"denial"`
}

// Denial echoes the requestable denial (ARAP §Access Request Submission).
type Denial struct {
	EvaluationID string    `json:"evaluation_id,omitempty"`
	EvaluatedAt  time.Time `json:"evaluated_at,omitzero"`
	ExpiresAt    time.Time `json:"expires_at,omitzero"`
	Reason       string    `json:"reason,omitempty"`
	BindingToken string    `json:"binding_token,omitempty"`
	Template     string    `json:"template,omitempty"`
}

// Hint is the access_request object of a requestable denial (ARAP
// §Requestable Denial Context).
type Hint struct {
	Endpoint     string    `json:"endpoint,omitempty"`
	Template     string    `json:"template"`
	ExpiresAt    time.Time `json:"expires_at"`
	BindingToken string    `json:"binding_token"`
	Display      *Display  `json:"display,omitempty"`
}

// Display holds user-interface hints.
type Display struct {
	Title       string `json:"title,omitempty"`
	Description string `json:"description,omitempty"`
}

// contextString returns a string member of an AuthZEN context.
func contextString(raw json.RawMessage, key string) string {
	var m map[string]any
	if json.Unmarshal(raw, &m) != nil {
		return ""
	}
	s, _ := m[key].(string)
	return s
}
