// Package auditbench holds the benchmark of the decision log's cost per
// PDP decision: the default bundle's engine evaluating requests in
// parallel, with and without a record appended per decision. It is a
// separate package so that the audit package does not depend on the PDP.
package auditbench
