package report

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/agentguard/agentguard/conformance"
)

// Table writes the terminal summary: one row per control that is not
// MANUAL (unless all is set), then the counts by status.
func Table(w io.Writer, rep *conformance.Report, all bool) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tLEVEL\tSTATUS\tTITLE\tSUMMARY")
	hidden := 0
	for _, r := range rep.Results {
		if !all && r.Status == conformance.StatusManual {
			hidden++
			continue
		}
		level := r.Level
		if r.Advisory {
			level += " (advisory)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.ID, level, r.Status, clip(r.Title, 60), clip(r.Summary, 90))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if hidden > 0 {
		fmt.Fprintf(w, "(%d MANUAL controls not listed; see report.html or -o json)\n", hidden)
	}
	var parts []string
	for _, s := range conformance.Statuses {
		parts = append(parts, fmt.Sprintf("%s %d", s, rep.Summary.ByStatus[s]))
	}
	fmt.Fprintf(w, "\n%d controls: %s\n", rep.Summary.Total, strings.Join(parts, ", "))
	if rep.Summary.CoreFailures > 0 {
		fmt.Fprintf(w, "%d core control(s) FAILED\n", rep.Summary.CoreFailures)
	}
	for _, e := range rep.CleanupErrors {
		fmt.Fprintf(w, "cleanup: %s\n", e)
	}
	return nil
}

func clip(s string, n int) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
