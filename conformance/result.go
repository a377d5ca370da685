package conformance

import (
	"time"

	"github.com/agentguard/agentguard/conformance/catalog"
)

// Status is a control's outcome (CONTROLS.md §1, Results).
type Status string

// The outcomes, in report order.
const (
	StatusPass   Status = "PASS"
	StatusFail   Status = "FAIL"
	StatusWarn   Status = "WARN"
	StatusNA     Status = "N/A"
	StatusManual Status = "MANUAL"
	StatusError  Status = "ERROR"
)

// Statuses lists every status in report order.
var Statuses = []Status{StatusPass, StatusFail, StatusWarn, StatusNA, StatusManual, StatusError}

// Evidence outcomes.
const (
	// EvidenceOK: this step met the control.
	EvidenceOK = "ok"
	// EvidenceFinding: this step breaks the control.
	EvidenceFinding = "finding"
	// EvidenceInfo: context for a reviewer; neither meets nor breaks it.
	EvidenceInfo = "info"
)

// Evidence is one step of a check: what was sent or inspected, and what
// came back.
type Evidence struct {
	// Step says what the suite checked.
	Step string `json:"step"`
	// Outcome is ok, finding or info.
	Outcome string `json:"outcome"`
	// Request is what the suite sent (an object, an HTTP request) or the
	// object it inspected.
	Request string `json:"request,omitempty"`
	// Response is what came back (an admission message, an HTTP status
	// and body, a verifier's report).
	Response string `json:"response,omitempty"`
}

// Result is the outcome of one control.
type Result struct {
	ID          string `json:"id"`
	Title       string `json:"title"`
	Section     string `json:"section"`
	Level       string `json:"level"`
	Advisory    bool   `json:"advisory,omitempty"`
	Enforcement string `json:"enforcement"`
	Source      string `json:"source,omitempty"`
	Check       string `json:"check,omitempty"`
	// Procedure is the catalog's check procedure, for the reviewer.
	Procedure string `json:"procedure,omitempty"`
	Status    Status `json:"status"`
	// Summary says in one sentence why the control ended as it did.
	Summary string `json:"summary"`
	// Evidence lists the steps in the order they ran.
	Evidence []Evidence `json:"evidence,omitempty"`
	// NotCovered names parts of the catalog procedure this check does not
	// exercise; a reviewer covers them by hand.
	NotCovered []string  `json:"notCovered,omitempty"`
	StartedAt  time.Time `json:"startedAt,omitzero"`
	DurationMS int64     `json:"durationMs"`
}

// CoreFailure reports whether r is a failed core control, the outcome that
// makes `agentguard conformance run` exit 1.
func (r *Result) CoreFailure() bool {
	return r.Level == catalog.LevelCore && !r.Advisory && r.Status == StatusFail
}

// SchemaVersion identifies the report.json schema (docs/conformance.md).
const SchemaVersion = "agentguard.io/conformance-report/v1"

// Report is a whole run.
type Report struct {
	SchemaVersion string    `json:"schemaVersion"`
	Tool          Tool      `json:"tool"`
	StartedAt     time.Time `json:"startedAt"`
	FinishedAt    time.Time `json:"finishedAt"`
	Target        Target    `json:"target"`
	Summary       Summary   `json:"summary"`
	Results       []Result  `json:"results"`
	// CleanupErrors lists suite objects that could not be deleted.
	CleanupErrors []string `json:"cleanupErrors,omitempty"`
}

// Tool names the suite.
type Tool struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// Target says what was checked.
type Target struct {
	// Cluster is the API server URL, empty when no cluster was given.
	Cluster string `json:"cluster,omitempty"`
	// PDP is the PDP base URL, empty when none was given.
	PDP string `json:"pdp,omitempty"`
	// Profile is the profile file, or "default".
	Profile string `json:"profile"`
	// Nonce marks the suite's namespaces and requests in this run.
	Nonce string `json:"nonce"`
}

// Summary counts the results.
type Summary struct {
	Total        int                       `json:"total"`
	ByStatus     map[Status]int            `json:"byStatus"`
	ByLevel      map[string]map[Status]int `json:"byLevel"`
	BySection    map[string]map[Status]int `json:"bySection"`
	CoreFailures int                       `json:"coreFailures"`
}

// Summarize counts results.
func Summarize(results []Result) Summary {
	s := Summary{ByStatus: map[Status]int{}, ByLevel: map[string]map[Status]int{}, BySection: map[string]map[Status]int{}}
	for _, st := range Statuses {
		s.ByStatus[st] = 0
	}
	for _, r := range results {
		s.Total++
		s.ByStatus[r.Status]++
		if s.ByLevel[r.Level] == nil {
			s.ByLevel[r.Level] = map[Status]int{}
		}
		s.ByLevel[r.Level][r.Status]++
		if s.BySection[r.Section] == nil {
			s.BySection[r.Section] = map[Status]int{}
		}
		s.BySection[r.Section][r.Status]++
		if r.CoreFailure() {
			s.CoreFailures++
		}
	}
	return s
}
