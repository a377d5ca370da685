package conformance

import (
	"fmt"

	"github.com/agentguard/agentguard/conformance/catalog"
)

// record collects what a check saw. A check adds evidence steps and may
// end early with a status it cannot improve on (MANUAL, N/A, ERROR).
type record struct {
	evidence   []Evidence
	notCovered []string
	forced     Status
	reason     string
}

func (r *record) add(outcome, step, req, resp string) {
	r.evidence = append(r.evidence, Evidence{Step: step, Outcome: outcome, Request: req, Response: resp})
}

// ok records a step that met the control.
func (r *record) ok(step, req, resp string) { r.add(EvidenceOK, step, req, resp) }

// finding records a step that breaks the control.
func (r *record) finding(step, req, resp string) { r.add(EvidenceFinding, step, req, resp) }

// info records context.
func (r *record) info(step, req, resp string) { r.add(EvidenceInfo, step, req, resp) }

// manual ends the check as MANUAL: it lacks something it needs.
func (r *record) manual(format string, args ...any) { r.force(StatusManual, format, args...) }

// notApplicable ends the check as N/A.
func (r *record) notApplicable(format string, args ...any) { r.force(StatusNA, format, args...) }

// errorf ends the check as ERROR: the suite could not run it.
func (r *record) errorf(format string, args ...any) { r.force(StatusError, format, args...) }

func (r *record) force(s Status, format string, args ...any) {
	if r.forced == StatusError {
		return // the first error explains the run
	}
	r.forced, r.reason = s, fmt.Sprintf(format, args...)
}

// skip names a part of the catalog procedure this run did not exercise.
func (r *record) skip(parts ...string) { r.notCovered = append(r.notCovered, parts...) }

func (r *record) count(outcome string) int {
	n := 0
	for _, e := range r.evidence {
		if e.Outcome == outcome {
			n++
		}
	}
	return n
}

// outcome turns what a check recorded into the control's status:
// a finding fails it (WARN when the control is advisory), whatever else
// happened; then an error, MANUAL or N/A the check declared; then PASS,
// but only on at least one step that met the control. A check that
// gathered no passing evidence is MANUAL, never PASS.
func outcome(ctl *catalog.Control, r *record) (Status, string) {
	if n := r.count(EvidenceFinding); n > 0 {
		first := ""
		for _, e := range r.evidence {
			if e.Outcome == EvidenceFinding {
				first = e.Step
				break
			}
		}
		st := StatusFail
		if ctl.Advisory {
			st = StatusWarn
		}
		if n == 1 {
			return st, "1 finding: " + first
		}
		return st, fmt.Sprintf("%d findings; first: %s", n, first)
	}
	if r.forced != "" {
		return r.forced, r.reason
	}
	if n := r.count(EvidenceOK); n > 0 {
		msg := fmt.Sprintf("all %d steps checked met the control", n)
		if n == 1 {
			msg = "the one step checked met the control"
		}
		if k := len(r.notCovered); k > 0 {
			msg += fmt.Sprintf("; %d part(s) of the procedure not covered, review them by hand", k)
		}
		return StatusPass, msg
	}
	return StatusManual, "the check gathered no evidence that the control is met; review by hand"
}
