// Package conformance checks a cluster and a policy decision point against
// the controls catalog (package catalog, from shared/CONTROLS.md).
//
// A Runner takes the selected controls, runs the check each one names —
// admission probes by server-side dry run in suite-owned namespaces,
// cluster inventory, PDP probes over AuthZEN, the declared fallback through
// the PEP client, decision-log verification and a metrics scrape — and
// returns a Report: one Result per control, PASS, FAIL, WARN, N/A, MANUAL or
// ERROR, each with the evidence it rests on. A check that lacks what it
// needs (no cluster, no PDP URL, no log directory) ends MANUAL or N/A, never
// PASS, and a check that gathered no passing evidence cannot pass either.
//
// Package report renders a Report as JSON, JUnit XML, HTML, a terminal
// table and OSCAL assessment results.
package conformance
