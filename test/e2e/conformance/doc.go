// Package conformance runs the conformance suite against a real
// kube-apiserver and etcd (envtest) with agentguard's webhook and PDP in the
// test process, and again with them removed.
package conformance
