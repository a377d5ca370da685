package report

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/agentguard/agentguard/conformance"
)

// Files written by WriteDir.
const (
	FileJSON  = "report.json"
	FileJUnit = "junit.xml"
	FileHTML  = "report.html"
	FileOSCAL = "oscal-assessment-results.json"
)

// WriteDir writes report.json, junit.xml and report.html into dir (created
// if missing), and the OSCAL assessment results when oscal is true.
func WriteDir(dir string, rep *conformance.Report, oscal bool) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("create report directory: %w", err)
	}
	writers := []struct {
		name string
		fn   func(io.Writer, *conformance.Report) error
	}{{FileJSON, JSON}, {FileJUnit, JUnit}, {FileHTML, HTML}}
	if oscal {
		writers = append(writers, struct {
			name string
			fn   func(io.Writer, *conformance.Report) error
		}{FileOSCAL, OSCAL})
	}
	for _, w := range writers {
		if err := writeFile(filepath.Join(dir, w.name), rep, w.fn); err != nil {
			return err
		}
	}
	return nil
}

func writeFile(path string, rep *conformance.Report, fn func(io.Writer, *conformance.Report) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := fn(f, rep); err != nil {
		_ = f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}

// JSON writes the report as indented JSON.
func JSON(w io.Writer, rep *conformance.Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

// ReadJSON reads a report written by JSON.
func ReadJSON(r io.Reader) (*conformance.Report, error) {
	var rep conformance.Report
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rep); err != nil {
		return nil, err
	}
	if rep.SchemaVersion != conformance.SchemaVersion {
		return nil, fmt.Errorf("report schema %q, want %q", rep.SchemaVersion, conformance.SchemaVersion)
	}
	return &rep, nil
}
