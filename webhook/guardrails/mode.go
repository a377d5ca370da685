package guardrails

import "fmt"

// Mode is how a violation is enforced.
type Mode string

const (
	// ModeEnforce denies the request.
	ModeEnforce Mode = "enforce"
	// ModeWarn admits the request and returns the violation as an
	// AdmissionResponse warning.
	ModeWarn Mode = "warn"
	// ModeAudit admits the request and only records the violation (metrics,
	// logs, audit annotations).
	ModeAudit Mode = "audit"
)

// Valid reports whether m is one of the three modes.
func (m Mode) Valid() bool {
	switch m {
	case ModeEnforce, ModeWarn, ModeAudit:
		return true
	}
	return false
}

func parseMode(field string, m Mode) error {
	if !m.Valid() {
		return fmt.Errorf("%s: mode %q: want enforce, warn or audit", field, m)
	}
	return nil
}
