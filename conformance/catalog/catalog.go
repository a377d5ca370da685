// Package catalog is the conformance suite's controls catalog: one entry per
// control of the white paper mapping (shared/CONTROLS.md), with the check
// that implements it or the reason it needs manual review.
//
// The data lives in controls.yaml next to this file, generated from
// CONTROLS.md by hack/gencatalog (which keeps each entry's check and manual
// fields), and embedded in the binary.
package catalog

import (
	_ "embed"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"
)

// Levels of a control (CONTROLS.md §1).
const (
	// LevelCore: enforced or emitted by the product; a defect fails it.
	LevelCore = "core"
	// LevelPlatform: a cluster capability the suite verifies.
	LevelPlatform = "platform"
	// LevelConditional: applies only when the feature exists, else N/A.
	LevelConditional = "conditional"
	// LevelManual: a recommendation that cannot be checked automatically
	// (CONTROLS.md §14); always reported as MANUAL.
	LevelManual = "manual"
)

// Enforcement points (CONTROLS.md §1).
const (
	PointAdmission = "Admission webhook"
	PointPDP       = "PDP"
	PointBundle    = "Bundle"
	PointManifest  = "Manifest/chart"
	PointTelemetry = "Runtime telemetry"
	// PointOutOfScope is used by the manual recommendations only.
	PointOutOfScope = "Out of scope"
)

// Control is one catalog entry.
type Control struct {
	// ID is AG-<SECTION>-<NNN>, or M-NN for a manual recommendation.
	ID string `json:"id"`
	// Title is the control's one-line statement.
	Title string `json:"title"`
	// Section is the catalog section, e.g. "General › Containers › Security".
	Section string `json:"section"`
	// Source is the paper section path and what it recommends.
	Source         string `json:"source"`
	Recommendation string `json:"recommendation,omitempty"`
	// Level is core, platform, conditional or manual.
	Level string `json:"level"`
	// Advisory controls report findings as WARN, not FAIL.
	Advisory bool `json:"advisory,omitempty"`
	// Enforcement is the primary enforcement point; EnforcementDetail the
	// secondary one(s).
	Enforcement       string `json:"enforcement"`
	EnforcementDetail string `json:"enforcementDetail,omitempty"`
	// Procedure is the catalog's check procedure (pass/fail criteria).
	Procedure string `json:"procedure,omitempty"`
	// Check names the suite check that implements the control; empty
	// when Manual says why it is not automated.
	Check  string `json:"check,omitempty"`
	Manual string `json:"manual,omitempty"`
	// Evidence lists what a reviewer should ask for (manual entries) or
	// which automated controls cover part of it.
	Evidence string `json:"evidence,omitempty"`
}

// Automatable reports whether the control belongs to the 94 automatable
// controls (as opposed to the manual recommendations).
func (c *Control) Automatable() bool { return c.Level != LevelManual }

// Catalog is the whole catalog, in CONTROLS.md order.
type Catalog struct {
	// Source names the document the data was generated from.
	Source   string    `json:"source"`
	Controls []Control `json:"controls"`
}

//go:embed controls.yaml
var controlsYAML []byte

// Default returns the embedded catalog.
func Default() (*Catalog, error) { return Parse(controlsYAML) }

// Raw returns the embedded catalog file.
func Raw() []byte { return slices.Clone(controlsYAML) }

var (
	controlID = regexp.MustCompile(`^AG-(GEN|CC|OBS|GOV|SEC)-\d{3}$`)
	manualID  = regexp.MustCompile(`^M-\d{2}$`)
)

// Parse decodes and validates catalog YAML strictly.
func Parse(data []byte) (*Catalog, error) {
	var c Catalog
	if err := yaml.UnmarshalStrict(data, &c); err != nil {
		return nil, fmt.Errorf("decode catalog: %w", err)
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

func (c *Catalog) validate() error {
	var errs []error
	seen := map[string]bool{}
	for i, ctl := range c.Controls {
		at := fmt.Sprintf("controls[%d] (%s)", i, ctl.ID)
		if seen[ctl.ID] {
			errs = append(errs, fmt.Errorf("%s: duplicate id", at))
		}
		seen[ctl.ID] = true
		if ctl.Title == "" || ctl.Section == "" || ctl.Source == "" {
			errs = append(errs, fmt.Errorf("%s: title, section and source are required", at))
		}
		switch ctl.Level {
		case LevelCore, LevelPlatform, LevelConditional:
			if !controlID.MatchString(ctl.ID) {
				errs = append(errs, fmt.Errorf("%s: id must look like AG-SEC-001", at))
			}
			if (ctl.Check == "") == (ctl.Manual == "") {
				errs = append(errs, fmt.Errorf("%s: exactly one of check and manual is required", at))
			}
			switch ctl.Enforcement {
			case PointAdmission, PointPDP, PointBundle, PointManifest, PointTelemetry:
			default:
				errs = append(errs, fmt.Errorf("%s: unknown enforcement point %q", at, ctl.Enforcement))
			}
		case LevelManual:
			if !manualID.MatchString(ctl.ID) {
				errs = append(errs, fmt.Errorf("%s: a manual recommendation's id must look like M-01", at))
			}
			if ctl.Check != "" || ctl.Manual == "" {
				errs = append(errs, fmt.Errorf("%s: a manual recommendation has a manual reason and no check", at))
			}
		default:
			errs = append(errs, fmt.Errorf("%s: level %q is not core, platform, conditional or manual", at, ctl.Level))
		}
	}
	return errors.Join(errs...)
}

// Get returns the control with id.
func (c *Catalog) Get(id string) (*Control, bool) {
	for i := range c.Controls {
		if c.Controls[i].ID == id {
			return &c.Controls[i], true
		}
	}
	return nil, false
}

// Select returns the controls whose IDs are listed (all when ids is
// empty). An ID may be a prefix ending in "*" ("AG-SEC-*"). Unknown IDs are
// an error.
func (c *Catalog) Select(ids []string) ([]Control, error) {
	if len(ids) == 0 {
		return slices.Clone(c.Controls), nil
	}
	want := map[string]bool{}
	var unknown []string
	for _, id := range ids {
		id = strings.ToUpper(strings.TrimSpace(id))
		if id == "" {
			continue
		}
		matched := false
		for _, ctl := range c.Controls {
			if ctl.ID == id || (strings.HasSuffix(id, "*") && strings.HasPrefix(ctl.ID, strings.TrimSuffix(id, "*"))) {
				want[ctl.ID] = true
				matched = true
			}
		}
		if !matched {
			unknown = append(unknown, id)
		}
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("unknown control id(s): %s", strings.Join(unknown, ", "))
	}
	var out []Control
	for _, ctl := range c.Controls {
		if want[ctl.ID] {
			out = append(out, ctl)
		}
	}
	return out, nil
}
