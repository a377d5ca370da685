// Package check validates a bundle's policies and runs its test cases: what
// `agentguard bundle build` and `agentguard bundle test` do, and what a
// server may use to build its engines from a verified bundle.
//
// [Compile] builds the PDP engine (Cedar, strict schema validation) and the
// admission engine (config schema, Rego) from a bundle and parses its test
// cases; it fails with every problem found, each naming its file. [Run]
// evaluates the cases:
//
//   - tests/*.json and tests/authz/*.json: AuthZEN requests with the
//     expected decision and determining policy @ids (see AuthzSuite);
//   - tests/admission/*.yaml: Kubernetes objects with whether they are
//     admitted and the IDs of the violations found (see AdmissionSuite).
package check
