package report_test

import (
	"bytes"
	"encoding/xml"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/agentguard/agentguard/conformance"
	"github.com/agentguard/agentguard/conformance/report"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// sample is a fixed report with every status, evidence that needs
// escaping, and a manual entry.
func sample() *conformance.Report {
	t0 := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	results := []conformance.Result{
		{ID: "AG-GEN-001", Title: "Agent pods run with a restricted security context", Section: "General › Containers › Security", Level: "core",
			Enforcement: "Admission webhook", Source: "General › Containers › Security, bullet 1", Check: "admission/restricted-security-context",
			Status: conformance.StatusPass, Summary: "all 2 steps checked met the control", StartedAt: t0, DurationMS: 40,
			Procedure: "Server-side dry-run creates, one pod per violation.\nPass: every request is denied with [AG-GEN-001].",
			Evidence: []conformance.Evidence{
				{Step: "privileged container: refused with [AG-GEN-001]", Outcome: conformance.EvidenceOK, Request: "POST /api/v1/namespaces/agconf-1-a/pods?dryRun=All\n{\"kind\":\"Pod\"}", Response: `admission webhook "validate.agentguard.io" denied the request: [AG-GEN-001] container "agent" is privileged`},
				{Step: "compliant pod: admitted", Outcome: conformance.EvidenceOK, Response: "admitted (dry run)"},
			},
			NotCovered: []string{"ephemeral containers"}},
		{ID: "AG-CC-008", Title: "Admission webhooks fail closed and tenants cannot bypass them", Section: "Control and communication", Level: "core",
			Enforcement: "Manifest/chart", Check: "inventory/webhook-configuration", Status: conformance.StatusFail,
			Summary: "1 finding: validating webhook v: failurePolicy is not Fail (fails open)", StartedAt: t0, DurationMS: 5,
			Evidence: []conformance.Evidence{{Step: "validating webhook v: failurePolicy is not Fail (fails open)", Outcome: conformance.EvidenceFinding, Request: `{"failurePolicy":"Ignore","x":"<script>alert(1)</script>"}`}}},
		{ID: "AG-GEN-008", Title: "Agent images contain only runtime essentials (advisory)", Section: "General › Containers › Security", Level: "core", Advisory: true,
			Enforcement: "Admission webhook", Check: "x", Status: conformance.StatusWarn, Summary: "1 finding: shell in image", StartedAt: t0,
			Evidence: []conformance.Evidence{{Step: "shell in image", Outcome: conformance.EvidenceFinding}}},
		{ID: "AG-GEN-205", Title: "In-cluster model serving sits behind Gateway API inference routing", Section: "General › Availability and fault tolerance",
			Level: "conditional", Enforcement: "Manifest/chart", Check: "y", Status: conformance.StatusNA, Summary: "no in-cluster model serving", StartedAt: t0},
		{ID: "AG-CC-012", Title: "PDP callers are authenticated by cryptographic workload identity", Section: "Control and communication", Level: "core",
			Enforcement: "PDP", Check: "pdp/caller-authentication", Status: conformance.StatusError, Summary: "POST http://pdp/access/v1/evaluation: connection refused", StartedAt: t0},
		{ID: "M-01", Title: "Direct research at reward functions", Section: "Recommendations that need manual review", Level: "manual",
			Enforcement: "Out of scope", Status: conformance.StatusManual, Summary: "A research agenda.", StartedAt: t0},
	}
	return &conformance.Report{
		SchemaVersion: conformance.SchemaVersion,
		Tool:          conformance.Tool{Name: "agentguard conformance", Version: "test"},
		StartedAt:     t0, FinishedAt: t0.Add(2 * time.Second),
		Target:  conformance.Target{Cluster: "https://127.0.0.1:6443", PDP: "http://127.0.0.1:8181", Profile: "default", Nonce: "0badc0de"},
		Summary: conformance.Summarize(results),
		Results: results,
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./conformance/report -update)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s differs from the golden file (-want +got; run with -update if intended):\n%s", name, diff)
	}
}

func TestGolden(t *testing.T) {
	rep := sample()
	for _, tt := range []struct {
		name string
		fn   func(*bytes.Buffer) error
	}{
		{"report.golden.json", func(b *bytes.Buffer) error { return report.JSON(b, rep) }},
		{"junit.golden.xml", func(b *bytes.Buffer) error { return report.JUnit(b, rep) }},
		{"report.golden.html", func(b *bytes.Buffer) error { return report.HTML(b, rep) }},
		{"table.golden.txt", func(b *bytes.Buffer) error { return report.Table(b, rep, false) }},
		{"table-all.golden.txt", func(b *bytes.Buffer) error { return report.Table(b, rep, true) }},
		{"oscal.golden.json", func(b *bytes.Buffer) error { return report.OSCAL(b, rep) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := tt.fn(&b); err != nil {
				t.Fatal(err)
			}
			golden(t, tt.name, b.Bytes())
		})
	}
}

func TestJSONRoundTrip(t *testing.T) {
	rep := sample()
	var b bytes.Buffer
	if err := report.JSON(&b, rep); err != nil {
		t.Fatal(err)
	}
	back, err := report.ReadJSON(&b)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(rep, back); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	if _, err := report.ReadJSON(strings.NewReader(`{"schemaVersion":"v0"}`)); err == nil {
		t.Error("ReadJSON accepted another schema version")
	}
}

func TestJUnitCounts(t *testing.T) {
	var b bytes.Buffer
	if err := report.JUnit(&b, sample()); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
		Errors   int `xml:"errors,attr"`
		Skipped  int `xml:"skipped,attr"`
		Suites   []struct {
			Cases []struct {
				Name string `xml:"name,attr"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	cases := 0
	for _, s := range doc.Suites {
		cases += len(s.Cases)
	}
	got := [5]int{doc.Tests, doc.Failures, doc.Errors, doc.Skipped, cases}
	if want := [5]int{6, 1, 1, 2, 6}; got != want {
		t.Errorf("tests/failures/errors/skipped/cases = %v, want %v", got, want)
	}
}

func TestHTMLIsSelfContained(t *testing.T) {
	var b bytes.Buffer
	if err := report.HTML(&b, sample()); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, bad := range []string{"<script src", "<link", "@import", "url(", "src=\"http", "<script>alert(1)"} {
		if strings.Contains(page, bad) {
			t.Errorf("report.html contains %q", bad)
		}
	}
	for _, want := range []string{"<svg", `id="summary-text"`, "6 controls: PASS 1, FAIL 1, WARN 1, N/A 1, MANUAL 1, ERROR 1", "f-status", "AG-CC-008"} {
		if !strings.Contains(page, want) {
			t.Errorf("report.html lacks %q", want)
		}
	}
}

func TestWriteDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	if err := report.WriteDir(dir, sample(), true); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{report.FileJSON, report.FileJUnit, report.FileHTML, report.FileOSCAL} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
	blocker := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := report.WriteDir(filepath.Join(blocker, "sub"), sample(), false); err == nil {
		t.Error("WriteDir under a file succeeded")
	}
}
