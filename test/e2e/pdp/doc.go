// Package pdp holds end-to-end tests of the policy decision point against a
// real kube-apiserver and etcd (envtest): ServiceAccount tokens minted by
// the TokenRequest API and checked by TokenReview, grants stored as
// AgentGrant resources and watched by two PDP replicas.
package pdp
