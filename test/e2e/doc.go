// Package e2e tests agentguard against a real kube-apiserver and etcd
// (controller-runtime's envtest): the admission webhook runs in the test
// process and the API server calls it over TLS. The binaries come from
// `make envtest-bins` (KUBEBUILDER_ASSETS); `make test` sets it.
package e2e
