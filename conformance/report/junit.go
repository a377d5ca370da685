package report

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"

	"github.com/agentguard/agentguard/conformance"
)

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name      string      `xml:"name,attr"`
	Tests     int         `xml:"tests,attr"`
	Failures  int         `xml:"failures,attr"`
	Errors    int         `xml:"errors,attr"`
	Skipped   int         `xml:"skipped,attr"`
	Timestamp string      `xml:"timestamp,attr,omitempty"`
	Cases     []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitMessage `xml:"failure,omitempty"`
	Error     *junitMessage `xml:"error,omitempty"`
	Skipped   *junitMessage `xml:"skipped,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitMessage struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr,omitempty"`
	Body    string `xml:",chardata"`
}

// JUnit writes one testsuite per catalog section and one testcase per
// control: FAIL is a failure, ERROR an error, N/A and MANUAL are skipped,
// WARN passes with the findings in system-out.
func JUnit(w io.Writer, rep *conformance.Report) error {
	root := junitSuites{Name: "agentguard conformance", Time: seconds(rep.FinishedAt.Sub(rep.StartedAt).Milliseconds())}
	index := map[string]int{}
	for _, r := range rep.Results {
		i, ok := index[r.Section]
		if !ok {
			i = len(root.Suites)
			index[r.Section] = i
			root.Suites = append(root.Suites, junitSuite{Name: r.Section, Timestamp: rep.StartedAt.Format("2006-01-02T15:04:05Z")})
		}
		s := &root.Suites[i]
		c := junitCase{Name: r.ID + " " + r.Title, Classname: "conformance." + r.Level, Time: seconds(r.DurationMS), SystemOut: evidenceText(r)}
		msg := &junitMessage{Message: fmt.Sprintf("%s: %s", r.Status, r.Summary), Type: string(r.Status), Body: evidenceText(r)}
		switch r.Status {
		case conformance.StatusFail:
			c.Failure = msg
			s.Failures++
			root.Failures++
		case conformance.StatusError:
			c.Error = msg
			s.Errors++
			root.Errors++
		case conformance.StatusNA, conformance.StatusManual:
			c.Skipped = &junitMessage{Message: fmt.Sprintf("%s: %s", r.Status, r.Summary)}
			s.Skipped++
			root.Skipped++
		}
		s.Tests++
		root.Tests++
		s.Cases = append(s.Cases, c)
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(root); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

func seconds(ms int64) string { return fmt.Sprintf("%.3f", float64(ms)/1000) }

// evidenceText renders a result's evidence as plain text.
func evidenceText(r conformance.Result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s — %s\n", r.Status, r.ID, r.Summary)
	for _, e := range r.Evidence {
		fmt.Fprintf(&b, "[%s] %s\n", e.Outcome, e.Step)
		if e.Request != "" {
			fmt.Fprintf(&b, "  request: %s\n", indent(e.Request))
		}
		if e.Response != "" {
			fmt.Fprintf(&b, "  response: %s\n", indent(e.Response))
		}
	}
	for _, n := range r.NotCovered {
		fmt.Fprintf(&b, "not covered: %s\n", n)
	}
	return b.String()
}

func indent(s string) string { return strings.ReplaceAll(s, "\n", "\n    ") }
