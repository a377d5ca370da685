package check

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteTable writes the report as a table, failures explained below it.
func WriteTable(w io.Writer, r *Report) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RESULT\tKIND\tFILE\tCASE\tEXPECTED\tGOT")
	for _, c := range r.Cases {
		res := "pass"
		if !c.Passed {
			res = "FAIL"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", res, c.Kind, c.File, c.Name, c.Expected, c.Got)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, c := range r.Cases {
		if !c.Passed {
			fmt.Fprintf(w, "\nFAIL %s: %s\n  %s\n", c.File, c.Name, c.Failure)
		}
	}
	if c := r.Coverage; c != nil && len(c.Uncovered) > 0 {
		fmt.Fprintf(w, "\n%d of %d policies determine no passing case: %s\n", len(c.Uncovered), c.Policies, strings.Join(c.Uncovered, ", "))
	}
	_, err := fmt.Fprintf(w, "\n%s@%s: %d passed, %d failed\n", r.Bundle, r.Revision, r.Passed, r.Failed)
	return err
}

// JUnit XML, the subset CI systems read.
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Time     string      `xml:"time,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Text    string `xml:",chardata"`
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.6f", d.Seconds()) }

// WriteJUnit writes the report as JUnit XML: one testsuite per test file.
func WriteJUnit(w io.Writer, r *Report) error {
	out := junitSuites{Name: r.Bundle + "@" + r.Revision, Tests: len(r.Cases), Failures: r.Failed}
	idx := map[string]int{}
	var total []time.Duration
	for _, c := range r.Cases {
		i, ok := idx[c.File]
		if !ok {
			i = len(out.Suites)
			idx[c.File] = i
			out.Suites = append(out.Suites, junitSuite{Name: c.File})
			total = append(total, 0)
		}
		s := &out.Suites[i]
		jc := junitCase{Name: c.Name, Classname: strings.TrimSuffix(c.File, ".json"), Time: seconds(c.Duration)}
		if !c.Passed {
			s.Failures++
			jc.Failure = &junitFailure{Message: c.Failure, Text: fmt.Sprintf("expected %s\ngot      %s\n%s", c.Expected, c.Got, c.Failure)}
		}
		s.Tests++
		total[i] += c.Duration
		s.Cases = append(s.Cases, jc)
	}
	for i := range out.Suites {
		out.Suites[i].Time = seconds(total[i])
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(out); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}
