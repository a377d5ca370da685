// Package report renders a conformance.Report: report.json (the Report
// itself, schema conformance.SchemaVersion), junit.xml (one testcase per
// control), report.html (one self-contained, filterable page with an
// inline SVG chart), a terminal table, and OSCAL assessment results.
package report
