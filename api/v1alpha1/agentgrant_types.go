package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// AgentGrant is one just-in-time access request and, once approved, the
// grant it yields: spec is the request as submitted, status its decision
// and audit trail. The PDP owns these objects and writes spec and status
// together in one update (there is deliberately no status subresource: an
// approval must land with its event and expiry atomically, under one
// resourceVersion precondition). Objects live in the PDP's namespace, not
// the agent's, so that nobody who can edit an agent's namespace can mint
// a grant for it.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Namespaced,shortName=agrant,categories=agentguard
// +kubebuilder:printcolumn:name="Agent",type=string,JSONPath=`.spec.principal.id`
// +kubebuilder:printcolumn:name="Tool",type=string,JSONPath=`.spec.resource.id`
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.state`
// +kubebuilder:printcolumn:name="Approved Until",type=string,JSONPath=`.status.approvedUntil`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type AgentGrant struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec AgentGrantSpec `json:"spec"`
	// +required
	Status AgentGrantStatus `json:"status"`
}

// AgentGrantList is a list of AgentGrant.
//
// +kubebuilder:object:root=true
type AgentGrantList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []AgentGrant `json:"items"`
}

// AgentGrantSpec is the access request: the exact AuthZEN request it
// covers, who asked, why and for how long.
type AgentGrantSpec struct {
	// id is the access request's task id. The object's name is derived
	// from it (the id itself when it is a valid name without dots), so it
	// never changes.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="id is immutable"
	// +required
	ID string `json:"id"`
	// subject, action and resource are the AuthZEN request the grant
	// covers, exactly.
	// +required
	Subject Entity `json:"subject"`
	// +required
	Action Action `json:"action"`
	// +required
	Resource Entity `json:"resource"`
	// principal, cedarAction and cedarResource are their Cedar names.
	// +required
	Principal CedarUID `json:"principal"`
	// +required
	CedarAction CedarUID `json:"cedarAction"`
	// +required
	CedarResource CedarUID `json:"cedarResource"`
	// requester is the authenticated caller that submitted the request,
	// in Cedar form (Agent::"ns/sa", User::"alice").
	// +kubebuilder:validation:MinLength=1
	// +required
	Requester string `json:"requester"`
	// onBehalfOf is the user the agent acts for, if any.
	// +optional
	OnBehalfOf string `json:"onBehalfOf,omitempty"`
	// task binds the grant to one task or session.
	// +optional
	Task string `json:"task,omitempty"`
	// justification is the requester's reason.
	// +optional
	Justification string `json:"justification,omitempty"`
	// grantable names the bundle declaration that made the denial
	// requestable; approval and approverGroup are copied from it.
	// +optional
	Grantable string `json:"grantable,omitempty"`
	// +kubebuilder:validation:Enum=auto;human
	// +optional
	Approval string `json:"approval,omitempty"`
	// +optional
	ApproverGroup string `json:"approverGroup,omitempty"`
	// evaluationID is the denied evaluation the request remediates.
	// +optional
	EvaluationID string `json:"evaluationID,omitempty"`
	// requestedUntil is the expiry the requester asked for.
	// +optional
	RequestedUntil Timestamp `json:"requestedUntil,omitempty"`
	// createdAt is when the request was submitted.
	// +optional
	CreatedAt Timestamp `json:"createdAt,omitempty"`
	// expiresAt ends the pending task; an undecided request expires then.
	// +optional
	ExpiresAt Timestamp `json:"expiresAt,omitempty"`
	// idempotencyKey and bodyHash make a resubmission return the same
	// task.
	// +optional
	IdempotencyKey string `json:"idempotencyKey,omitempty"`
	// +optional
	BodyHash string `json:"bodyHash,omitempty"`
}

// AgentGrantStatus is the decision on the request and its audit trail.
type AgentGrantStatus struct {
	// state is the task status; an approved grant is in force until
	// approvedUntil, by the PDP's clock.
	// +required
	State GrantState `json:"state"`
	// +optional
	ApprovalID string `json:"approvalID,omitempty"`
	// approvedBy is the approver, in Cedar form.
	// +optional
	ApprovedBy string `json:"approvedBy,omitempty"`
	// +optional
	ApprovedAt Timestamp `json:"approvedAt,omitempty"`
	// approvedUntil is the grant's expiry.
	// +optional
	ApprovedUntil Timestamp `json:"approvedUntil,omitempty"`
	// events is every step of the request's life, oldest first.
	// +listType=atomic
	// +optional
	Events []Event `json:"events,omitempty"`
}

// GrantState is the status of an access request (ARAP task status values,
// plus revoked).
//
// +kubebuilder:validation:Enum=pending;approved;denied;expired;cancelled;revoked
type GrantState string

// Grant states.
const (
	StatePending   GrantState = "pending"
	StateApproved  GrantState = "approved"
	StateDenied    GrantState = "denied"
	StateExpired   GrantState = "expired"
	StateCancelled GrantState = "cancelled"
	StateRevoked   GrantState = "revoked"
)

// Timestamp is an RFC 3339 time with up to nanosecond precision. Grants
// use it instead of metav1.Time, which keeps only whole seconds, so that a
// request reads back exactly as written.
//
// +kubebuilder:validation:Format=date-time
type Timestamp string

// Entity is an AuthZEN subject or resource.
type Entity struct {
	// +required
	Type string `json:"type"`
	// +required
	ID string `json:"id"`
	// properties is the entity's AuthZEN properties: JSON text, kept
	// verbatim.
	// +optional
	Properties string `json:"properties,omitempty"`
}

// Action is an AuthZEN action.
type Action struct {
	// +required
	Name string `json:"name"`
	// properties is the action's AuthZEN properties: JSON text, kept
	// verbatim.
	// +optional
	Properties string `json:"properties,omitempty"`
}

// CedarUID is a Cedar entity reference.
type CedarUID struct {
	// +required
	Type string `json:"type"`
	// +required
	ID string `json:"id"`
}

// Event is one step of a request's life: requested, approved, denied,
// expired, cancelled, revoked or used.
type Event struct {
	// +kubebuilder:validation:MinLength=1
	// +required
	Type string `json:"type"`
	// actor is who caused the event, in Cedar form.
	// +optional
	Actor string `json:"actor,omitempty"`
	// +optional
	At Timestamp `json:"at,omitempty"`
	// +optional
	Reason string `json:"reason,omitempty"`
}
