package authn

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/cedar-policy/cedar-go/types"
)

// Kind is the kind of credential an Identity was proved with.
type Kind string

// Credential kinds.
const (
	KindServiceAccount Kind = "serviceaccount"
	KindSPIFFE         Kind = "spiffe"
	KindStatic         Kind = "static"
)

// AgentType is the Cedar entity type of agents (schema `entity Agent`).
const AgentType types.EntityType = "Agent"

// Identity is an authenticated caller. Its JSON form suits decision
// records; it holds no secret.
type Identity struct {
	// Kind is how the caller proved who it is.
	Kind Kind `json:"kind"`
	// Principal is the Cedar entity the caller acts as: Agent::"<ns>/<sa>"
	// for ServiceAccounts (and SPIFFE IDs of the form
	// spiffe://<td>/ns/<ns>/sa/<sa>), Agent::"<spiffe id>" for other SVIDs,
	// and whatever the static token file says for static tokens.
	Principal types.EntityUID `json:"principal"`
	// Namespace and ServiceAccount of a Kubernetes workload, when known.
	Namespace      string `json:"namespace,omitempty"`
	ServiceAccount string `json:"serviceAccount,omitempty"`
	// PodName and PodUID of the pod a bound ServiceAccount token belongs to
	// (AG-SEC-002: tells replicas apart).
	PodName string `json:"podName,omitempty"`
	PodUID  string `json:"podUID,omitempty"`
	// SPIFFEID is the caller's SPIFFE ID (KindSPIFFE only).
	SPIFFEID string `json:"spiffeID,omitempty"`
	// Username is the authenticated user name, e.g.
	// "system:serviceaccount:<ns>:<sa>" or the SPIFFE ID.
	Username string `json:"username,omitempty"`
	// Groups the caller belongs to, e.g. "system:serviceaccounts:<ns>".
	Groups []string `json:"groups,omitempty"`
	// CredentialID identifies the credential without revealing it: the
	// token's `authentication.kubernetes.io/credential-id` (JTI) when the
	// apiserver reports one, the SVID's serial number, or the static token
	// hash's first 12 hex digits. For decision records (AG-SEC-010).
	CredentialID string `json:"credentialID,omitempty"`
	// IssuedAt is when the credential was issued (the token's iat, the
	// certificate's NotBefore); zero if unknown. For step-up checks
	// (AG-SEC-014: "fresh authentication").
	IssuedAt time.Time `json:"issuedAt,omitzero"`
	// Expiry is when the credential stops being valid; zero if unknown.
	Expiry time.Time `json:"expiry,omitzero"`
}

// Clone returns a deep copy of id.
func (id *Identity) Clone() *Identity {
	if id == nil {
		return nil
	}
	c := *id
	c.Groups = slices.Clone(id.Groups)
	return &c
}

// GroupType is the Cedar entity type of groups (schema `entity Group`).
const GroupType types.EntityType = "Group"

// PrincipalEntity returns a Cedar entity for the principal, with no
// attributes and with the credential's groups as Group parents, e.g.
// User::"alice" in Group::"acme-approvers" for a static token. It is for
// principals the PDP holds no entity for; agents' entities, with their
// attributes, come from the agent registry or the bundle.
func (id *Identity) PrincipalEntity() types.Entity {
	parents := make([]types.EntityUID, 0, len(id.Groups))
	for _, g := range id.Groups {
		parents = append(parents, types.NewEntityUID(GroupType, types.String(g)))
	}
	return types.Entity{UID: id.Principal, Parents: types.NewEntityUIDSet(parents...)}
}

// AgentPrincipal is the Cedar principal of a ServiceAccount:
// Agent::"<namespace>/<serviceaccount>".
func AgentPrincipal(namespace, serviceAccount string) types.EntityUID {
	return types.NewEntityUID(AgentType, types.String(namespace+"/"+serviceAccount))
}

// splitAgentID splits "<ns>/<sa>" into its parts.
func splitAgentID(id string) (ns, sa string, ok bool) {
	ns, sa, ok = strings.Cut(id, "/")
	if !ok || ns == "" || sa == "" || strings.Contains(sa, "/") {
		return "", "", false
	}
	return ns, sa, true
}

type contextKey struct{}

// NewContext returns ctx carrying id.
func NewContext(ctx context.Context, id *Identity) context.Context {
	return context.WithValue(ctx, contextKey{}, id)
}

// FromContext returns the Identity stored by NewContext (and by
// Middleware), if any.
func FromContext(ctx context.Context) (*Identity, bool) {
	id, ok := ctx.Value(contextKey{}).(*Identity)
	return id, ok && id != nil
}
