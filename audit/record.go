package audit

import (
	"encoding/json"
	"time"
)

// Kind says what produced a Record.
type Kind string

// The kinds of record agentguard writes. Other kinds are allowed if they
// match [a-z0-9_.]{1,64}; verification does not depend on the kind.
const (
	KindAdmission      Kind = "admission"       // an admission review (webhook)
	KindPDPDecision    Kind = "pdp_decision"    // a tool-call decision (PDP)
	KindGrantEvent     Kind = "grant_event"     // a JIT grant lifecycle step
	KindClientFallback Kind = "client_fallback" // a decision a PEP took without the PDP
	KindDrop           Kind = "drop"            // written by the log: Count records were lost
)

// Decision outcomes used by agentguard. The field is free text so that
// admission "warn" and grant states fit too.
const (
	DecisionAllow = "allow"
	DecisionDeny  = "deny"
	DecisionWarn  = "warn"
)

// FormatVersion is the record and checkpoint format written by this
// package (the "v" member).
const FormatVersion = 1

// Record is one entry of the decision log. Empty fields are omitted from
// the encoding. The log fills Version, Seq, Prev and Hash; Append fills
// Time when it is zero.
//
// Strings must not carry secrets: bearer tokens and JWT-shaped values are
// masked wherever they appear, and Args goes through the configured
// Redactor, but Credential is meant for a token's jti or an SVID serial,
// never the token itself.
type Record struct {
	// Version is the format version, FormatVersion.
	Version int `json:"v"`
	// Seq numbers the records of one log from 1, without gaps.
	Seq uint64 `json:"seq"`
	// Time is when the decision was taken (RFC 3339, UTC, nanoseconds).
	Time time.Time `json:"time"`
	// Kind says what produced the record.
	Kind Kind `json:"kind"`

	// Agent is the acting agent (e.g. "ns/serviceaccount").
	Agent string `json:"agent,omitempty"`
	// Instance is the agent instance (pod name or UID).
	Instance string `json:"instance,omitempty"`
	// Credential identifies the credential used: a token's jti, an SVID
	// serial. Never the credential itself.
	Credential string `json:"credential,omitempty"`
	// OnBehalfOf is the (possibly pseudonymised) user the agent acts for.
	OnBehalfOf string `json:"on_behalf_of,omitempty"`
	// Delegation is the ordered actor chain of a delegated call
	// (user, agent A, agent B, ...).
	Delegation []string `json:"delegation,omitempty"`

	// Tool is the tool called (PDP) or empty.
	Tool string `json:"tool,omitempty"`
	// Action is the AuthZEN action or the admission operation.
	Action string `json:"action,omitempty"`
	// Namespace is the Kubernetes namespace concerned.
	Namespace string `json:"namespace,omitempty"`
	// Object is the resource: "kind/name" for admission, type/id for PDP.
	Object string `json:"object,omitempty"`
	// Args are the request's arguments or context as a JSON value. The log
	// redacts them before writing.
	Args json.RawMessage `json:"args,omitempty"`

	// Decision is the outcome: DecisionAllow, DecisionDeny, DecisionWarn, ...
	Decision string `json:"decision,omitempty"`
	// Reason explains the decision in plain language.
	Reason string `json:"reason,omitempty"`
	// Policies are the ids of the determining policies or control ids.
	Policies []string `json:"policies,omitempty"`
	// Revision is the bundle revision that decided.
	Revision string `json:"revision,omitempty"`
	// DecisionID is the PDP's decision id.
	DecisionID string `json:"decision_id,omitempty"`
	// GrantID is the JIT grant concerned.
	GrantID string `json:"grant_id,omitempty"`
	// Event names a grant lifecycle step (requested, approved, expired,
	// revoked, ...) or a fallback mode (deny, cached, local, allow).
	Event string `json:"event,omitempty"`
	// Count is the number of records lost, for KindDrop.
	Count uint64 `json:"count,omitempty"`

	// TraceID and SpanID are the W3C trace context of the decision (hex).
	TraceID string `json:"trace_id,omitempty"`
	SpanID  string `json:"span_id,omitempty"`
	// SessionID and TaskID come from baggage or the request.
	SessionID string `json:"session_id,omitempty"`
	TaskID    string `json:"task_id,omitempty"`

	// Prev is the Hash of the previous record; 64 zeros for the first.
	Prev string `json:"prev"`
	// Hash is the lowercase hex SHA-256 of the record's canonical encoding
	// without the hash member.
	Hash string `json:"hash"`
}

// GenesisHash is the Prev of the first record of a log.
const GenesisHash = "0000000000000000000000000000000000000000000000000000000000000000"

func validKind(k Kind) bool {
	if len(k) == 0 || len(k) > 64 {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' && c != '.' {
			return false
		}
	}
	return true
}
