// Package chart tests the Helm chart in charts/agentguard: helm lint, helm
// template over the values files in testdata/values against golden files
// (go test -update rewrites them), the invariants the chart promises
// (availability, fail-closed webhooks, least-privilege RBAC, restricted pods),
// agentguard's own guardrails applied to its Deployments, a server-side dry
// run of every rendered object against a real kube-apiserver (envtest), and
// a real install and uninstall that leaves no webhook configuration behind.
//
// helm comes from bin/helm (`make test` installs it; $HELM overrides);
// KUBEBUILDER_ASSETS points at kube-apiserver and etcd (`make envtest-bins`).
package chart
