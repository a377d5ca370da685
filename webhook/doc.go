// Package webhook is agentguard's admission webhook: the validating and
// mutating handlers (AdmissionReview v1), extraction of the pod spec from
// Pods and pod controllers (Deployments, StatefulSets, DaemonSets,
// ReplicaSets, Jobs, CronJobs), the secure-defaults mutation, and the
// server wiring on controller-runtime's webhook server.
//
// The same Reviewer runs behind the HTTP handlers and `agentguard admit`,
// so offline results equal the webhook's. The guardrails themselves live in
// webhook/guardrails.
package webhook
