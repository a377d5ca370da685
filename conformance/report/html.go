package report

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"sort"

	"github.com/agentguard/agentguard/conformance"
)

//go:embed report.html.tmpl
var htmlTemplate string

var statusColors = map[conformance.Status]string{
	conformance.StatusPass: "#2e7d32", conformance.StatusFail: "#c62828", conformance.StatusWarn: "#ef6c00",
	conformance.StatusNA: "#78909c", conformance.StatusManual: "#5c6bc0", conformance.StatusError: "#6a1b9a",
}

type svgBar struct {
	X, Y, W, H float64
	Color      string
	Title      string
}

type svgRow struct {
	Label string
	Y     float64
	Total int
	Bars  []svgBar
}

type htmlView struct {
	*conformance.Report
	Statuses []conformance.Status
	Colors   map[conformance.Status]string
	Sections []string
	Levels   []string
	Chart    []svgRow
	ChartH   float64
}

// HTML writes a single self-contained page: summary by section and level,
// an inline SVG chart, and every control with its evidence, filterable by
// status, level, section and text. It loads nothing from the network.
func HTML(w io.Writer, rep *conformance.Report) error {
	t, err := template.New("report").Funcs(template.FuncMap{
		"count": func(m map[conformance.Status]int, s conformance.Status) int { return m[s] },
		"pct": func(n, total int) string {
			if total == 0 {
				return "0"
			}
			return fmt.Sprintf("%.0f", 100*float64(n)/float64(total))
		},
	}).Parse(htmlTemplate)
	if err != nil {
		return err
	}
	v := htmlView{Report: rep, Statuses: conformance.Statuses, Colors: statusColors}
	seen := map[string]bool{}
	for _, r := range rep.Results {
		if !seen[r.Section] {
			seen[r.Section] = true
			v.Sections = append(v.Sections, r.Section)
		}
	}
	for l := range rep.Summary.ByLevel {
		v.Levels = append(v.Levels, l)
	}
	sort.Strings(v.Levels)
	const labelW, barW, rowH = 330.0, 420.0, 26.0
	for i, sec := range v.Sections {
		counts := rep.Summary.BySection[sec]
		total := 0
		for _, n := range counts {
			total += n
		}
		row := svgRow{Label: sec, Y: float64(i) * rowH, Total: total}
		x := labelW
		for _, st := range conformance.Statuses {
			n := counts[st]
			if n == 0 || total == 0 {
				continue
			}
			wd := barW * float64(n) / float64(total)
			row.Bars = append(row.Bars, svgBar{X: x, Y: row.Y + 4, W: wd, H: rowH - 8, Color: statusColors[st], Title: fmt.Sprintf("%s: %d %s", sec, n, st)})
			x += wd
		}
		v.Chart = append(v.Chart, row)
	}
	v.ChartH = float64(len(v.Sections))*rowH + 4
	return t.Execute(w, v)
}
