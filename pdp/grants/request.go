package grants

import (
	"time"

	"github.com/agentguard/agentguard/pdp"
)

// Status is a task status (ARAP §Task Status Values), plus revoked for an
// approved grant withdrawn before its expiry.
type Status string

// Task statuses.
const (
	StatusPending   Status = "pending"
	StatusApproved  Status = "approved"
	StatusDenied    Status = "denied"
	StatusExpired   Status = "expired"
	StatusCancelled Status = "cancelled"
	StatusRevoked   Status = "revoked"
)

// Terminal reports whether no further transition is possible. An approved
// request can still be revoked.
func (s Status) Terminal() bool { return s != StatusPending && s != StatusApproved }

// Request is one access request and, once approved, the grant it yields.
type Request struct {
	// ID is the task id: opaque and unguessable.
	ID string `json:"id"`
	// Subject, Action and Resource are the AuthZEN request the grant covers,
	// exactly (the profile's exact-match approval scope).
	Subject  pdp.Entity `json:"subject"`
	Action   pdp.Action `json:"action"`
	Resource pdp.Entity `json:"resource"`
	// Principal, CedarAction and CedarResource are their Cedar names.
	Principal     UID `json:"principal"`
	CedarAction   UID `json:"cedarAction"`
	CedarResource UID `json:"cedarResource"`
	// Requester is the authenticated caller that submitted the request
	// ("Agent::\"ns/sa\"", "User::\"alice\"").
	Requester string `json:"requester"`
	// OnBehalfOf is the user the agent acts for, if any.
	OnBehalfOf string `json:"onBehalfOf,omitempty"`
	// Task binds the grant to one task or session (context.request.task).
	Task string `json:"task,omitempty"`
	// Justification is the requester's reason.
	Justification string `json:"justification,omitempty"`
	// Grantable names the bundle declaration that made the denial
	// requestable; Approval and ApproverGroup are copied from it.
	Grantable     string `json:"grantable"`
	Approval      string `json:"approval"`
	ApproverGroup string `json:"approverGroup,omitempty"`
	// EvaluationID is the denied evaluation the request remediates.
	EvaluationID string `json:"evaluationId,omitempty"`
	// RequestedUntil is what the requester asked for; ApprovedUntil what
	// was granted (never past the declaration's maximum duration).
	RequestedUntil time.Time `json:"requestedUntil"`
	Status         Status    `json:"status"`
	CreatedAt      time.Time `json:"createdAt"`
	// ExpiresAt ends a pending task; an undecided request expires then.
	ExpiresAt     time.Time `json:"expiresAt"`
	ApprovalID    string    `json:"approvalId,omitempty"`
	ApprovedBy    string    `json:"approvedBy,omitempty"`
	ApprovedAt    time.Time `json:"approvedAt,omitzero"`
	ApprovedUntil time.Time `json:"approvedUntil,omitzero"`
	// IdempotencyKey and BodyHash make resubmission return the same task.
	IdempotencyKey string `json:"idempotencyKey,omitempty"`
	BodyHash       string `json:"bodyHash,omitempty"`
	// Events is the audit trail of the request.
	Events []Event `json:"events"`
	// Version is the store's revision of this record, for optimistic
	// concurrency; stores set it.
	Version string `json:"version,omitempty"`
}

// UID is a Cedar entity reference.
type UID struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

// Event is one step of a request's life.
type Event struct {
	Type   string    `json:"type"` // requested, approved, denied, expired, cancelled, revoked, used
	Actor  string    `json:"actor"`
	At     time.Time `json:"at"`
	Reason string    `json:"reason,omitempty"`
}

// Active reports whether the request is a grant in force at now.
func (r *Request) Active(now time.Time) bool {
	return r.Status == StatusApproved && now.Before(r.ApprovedUntil)
}

// Clone returns a deep copy.
func (r *Request) Clone() *Request {
	c := *r
	c.Events = append([]Event(nil), r.Events...)
	c.Subject.Properties = append([]byte(nil), r.Subject.Properties...)
	c.Action.Properties = append([]byte(nil), r.Action.Properties...)
	c.Resource.Properties = append([]byte(nil), r.Resource.Properties...)
	return &c
}
