// Package grants implements just-in-time (JIT) access for agents, after the
// AuthZEN Access Request and Approval profile
// (shared/specs/authzen-access-request-approval-profile-1_0.md): a
// requestable denial leads to an access request, the request is a task that
// policy auto-approves or a human approver decides, and an approved request
// is a grant with an approved_until that the PDP compiles into a Cedar
// permit (pdp.Grant). The bundle declares what is grantable
// (pdp/grants.yaml); Cedar decides who may request (action request_grant)
// and who may approve (action approve_grant); an agent never approves its
// own request, nor a user one made on their behalf.
//
// Requests live behind the Store interface: a bbolt file standalone
// (BoltStore) and AgentGrant custom resources in a cluster. Every lifecycle
// event (requested, approved, denied, expired, cancelled, revoked, used) is
// kept on the request with who, when and why.
package grants
