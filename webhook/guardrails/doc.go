// Package guardrails holds agentguard's built-in admission checks for agent
// workloads and the admission configuration that parameterises them.
//
// An Engine is built once per bundle revision from a Config (the bundle's
// admission/config.yaml) and the bundle's custom Rego rules
// (admission/*.rego). Engine.Evaluate takes one Input (a pod spec, from a Pod
// or from a pod controller's template, or a Namespace) and returns a Decision
// that lists every Violation with its control ID (see shared/CONTROLS.md) and
// enforcement mode. The package does not log and does not read flags or the
// environment.
//
// Pod Security Standards (restricted, latest version) are evaluated with the
// checks of k8s.io/pod-security-admission itself, so the verdicts are those
// of the upstream implementation; this package maps each upstream check to a
// control ID and attributes failures to the pod or to individual containers.
package guardrails
