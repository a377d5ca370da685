package catalog

import (
	"bufio"
	"bytes"
	"fmt"
	"regexp"
	"strings"
)

var (
	sectionHeading = regexp.MustCompile(`^## \d+\. (.+?)(?: \((AG-[A-Z]+(?:-\dxx)?)\))?$`)
	markup         = strings.NewReplacer("**", "", "`", "")
	emphasis       = regexp.MustCompile(`\*([^*]+)\*`)
)

// ParseMarkdown reads the controls tables of CONTROLS.md: every row whose
// first cell is an AG-… ID (sections 5–13) and every manual recommendation
// (M-NN, section 14). Check and Manual are left empty for AG controls; the
// generator merges them from the existing data.
func ParseMarkdown(data []byte) ([]Control, error) {
	var (
		out     []Control
		section string
		lineNo  int
	)
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		lineNo++
		line := strings.TrimSpace(sc.Text())
		if m := sectionHeading.FindStringSubmatch(line); m != nil {
			section = m[1]
			continue
		}
		if !strings.HasPrefix(line, "| AG-") && !strings.HasPrefix(line, "| M-") {
			continue
		}
		cells := splitRow(line)
		var c Control
		var err error
		if strings.HasPrefix(line, "| AG-") {
			c, err = controlRow(cells, section)
		} else {
			c, err = manualRow(cells)
		}
		if err != nil {
			return nil, fmt.Errorf("CONTROLS.md line %d: %w", lineNo, err)
		}
		out = append(out, c)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

func splitRow(line string) []string {
	line = strings.TrimSuffix(strings.TrimPrefix(line, "|"), "|")
	parts := strings.Split(line, " | ")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return parts
}

// clean turns a table cell's Markdown into plain text.
func clean(s string) string {
	s = strings.ReplaceAll(s, "<br>", "\n")
	s = markup.Replace(s)
	s = emphasis.ReplaceAllString(s, "$1")
	return strings.TrimSpace(s)
}

func controlRow(cells []string, section string) (Control, error) {
	if len(cells) != 6 {
		return Control{}, fmt.Errorf("control row has %d cells, want 6", len(cells))
	}
	if section == "" {
		return Control{}, fmt.Errorf("control %s outside a section", cells[0])
	}
	c := Control{ID: cells[0], Title: cells[1], Section: section}
	src, rec, _ := strings.Cut(cells[2], "<br>*Recommendation:*")
	c.Source, c.Recommendation = clean(src), clean(rec)
	point, detail, _ := strings.Cut(cells[3], "<br>")
	c.Enforcement, c.EnforcementDetail = clean(point), clean(detail)
	c.Procedure = clean(cells[4])
	level := strings.ToLower(clean(cells[5]))
	if strings.Contains(level, "(advisory)") {
		c.Advisory = true
		level = strings.TrimSpace(strings.ReplaceAll(level, "(advisory)", ""))
	}
	c.Level = level
	return c, nil
}

func manualRow(cells []string) (Control, error) {
	if len(cells) != 5 {
		return Control{}, fmt.Errorf("manual row has %d cells, want 5", len(cells))
	}
	return Control{
		ID:          cells[0],
		Title:       clean(cells[2]),
		Section:     "Recommendations that need manual review",
		Source:      clean(cells[1]),
		Level:       LevelManual,
		Enforcement: PointOutOfScope,
		Manual:      clean(cells[3]),
		Evidence:    clean(cells[4]),
	}, nil
}
