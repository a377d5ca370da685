// Package kube keeps just-in-time access requests as AgentGrant custom
// resources (api/v1alpha1): the grants.Store of a PDP running in a
// cluster. The cluster is the distributed store: every PDP replica runs
// Watch, so a grant approved or revoked through one replica reaches all of
// them.
//
// # Where the objects live
//
// All AgentGrants live in one namespace, the PDP's own (Options.Namespace),
// not in the agents' namespaces: a grant is the PDP's decision, and whoever
// may edit an agent's namespace must not be able to mint one. The PDP
// therefore needs a namespaced Role, not a ClusterRole.
//
// # Names, labels and versions
//
// An object is named after the request id when the id is a valid object
// name without dots (ids are "arq-<random>"); any other id is named
// "sha256.<hex digest of the id>", which can never collide with an id used
// verbatim. spec.id always holds the id and is checked on every read.
// Labels index what List and FindIdempotent select on:
//
//	agentguard.io/principal    hash of the Cedar principal (label values are short)
//	agentguard.io/state        the request's status
//	agentguard.io/idempotency  hash of requester and Idempotency-Key, when set
//
// Hashes only narrow the search; the stored fields are compared before a
// request is returned. Request.Version is metadata.resourceVersion, so an
// Update from a stale read fails with grants.ErrConflict. Update replaces
// the whole object: labels, annotations and finalizers the PDP did not set
// are not kept.
//
// # RBAC
//
// The PDP's service account needs exactly these verbs on agentgrants in its
// namespace; it never deletes (a deleted AgentGrant reaches watchers as
// revoked) and never patches:
//
// +kubebuilder:rbac:groups=agentguard.io,resources=agentgrants,verbs=get;list;watch;create;update,namespace=agentguard-system
package kube
