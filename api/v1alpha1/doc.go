// Package v1alpha1 holds the agentguard.io/v1alpha1 API: the AgentGrant
// custom resource, in which a PDP running in a cluster keeps its
// just-in-time access requests and grants (pdp/grants). Every PDP replica
// watches these objects, so the cluster is the grants' distributed store.
//
// The CRD manifest generated from these types is checked in at
// config/crd/agentguard.io_agentgrants.yaml; regenerate it and
// zz_generated.deepcopy.go with `make generate`.
//
// +kubebuilder:object:generate=true
// +groupName=agentguard.io
package v1alpha1
