package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupVersion is the API group and version of the types in this package.
var GroupVersion = schema.GroupVersion{Group: "agentguard.io", Version: "v1alpha1"}

// AddToScheme registers AgentGrant and AgentGrantList with s. It is called
// explicitly rather than from init so no process-wide scheme is filled
// behind the caller's back.
func AddToScheme(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &AgentGrant{}, &AgentGrantList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
