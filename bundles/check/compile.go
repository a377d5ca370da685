package check

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/agentguard/agentguard/bundles"
	"github.com/agentguard/agentguard/pdp"
	"github.com/agentguard/agentguard/webhook/guardrails"
)

// Options configures Compile.
type Options struct {
	// PDP configures the PDP engine (clock, grants, entity source). The
	// zero value is what `bundle build` and `bundle test` use.
	PDP pdp.Options
}

// Compiled is a bundle whose policies compiled: the engines a server
// activates, and the parsed test suites.
type Compiled struct {
	Bundle *bundles.Bundle
	// PDP is the Cedar engine; nil when the bundle has no pdp/ part.
	PDP *pdp.Engine
	// Admission is the admission engine; nil when the bundle has no
	// admission/ part.
	Admission *guardrails.Engine
	// Suites are the parsed test files.
	Suites []Suite
	// Warnings are files no part of agentguard reads (typos, stray files)
	// and risky declarations (an "allow" fallback).
	Warnings []string
}

// ErrInvalidBundle is wrapped by every error Compile returns about the
// bundle's content.
var ErrInvalidBundle = errors.New("invalid bundle")

// Compile validates everything in b: the Cedar schema, policies, entities
// and mapping (strict schema validation, via pdp.New), the admission config
// against its schema and the Rego rules (via guardrails.LoadBundleFS), and
// the test files. All problems are returned together, each naming its file.
func Compile(ctx context.Context, b *bundles.Bundle, opts Options) (*Compiled, error) {
	c := &Compiled{Bundle: b}
	var hasPDP, hasAdmission bool
	for _, n := range b.Files() {
		top, _, _ := strings.Cut(n, "/")
		switch top {
		case "pdp":
			hasPDP = true
		case "admission":
			hasAdmission = true
		}
		if w := unknownFile(n); w != "" {
			c.Warnings = append(c.Warnings, w)
		}
	}
	if !hasPDP && !hasAdmission {
		return nil, fmt.Errorf("%w %s: neither a pdp/ nor an admission/ part", ErrInvalidBundle, b.Name())
	}
	fsys := b.FS()
	var errs []error
	if hasPDP {
		src, err := pdp.ReadFS(fsys)
		if err == nil {
			c.PDP, err = pdp.New(src, opts.PDP)
		}
		if err != nil {
			errs = append(errs, err)
		} else {
			// An allow fallback opens tools while the PDP is unreachable.
			c.Warnings = append(c.Warnings, c.PDP.Fallback().Warnings()...)
		}
	}
	if hasAdmission {
		e, err := guardrails.LoadBundleFS(ctx, fsys, b.Name())
		if err != nil {
			errs = append(errs, err)
		}
		c.Admission = e
	}
	suites, err := ParseSuites(fsys, b.Files())
	if err != nil {
		errs = append(errs, err)
	}
	c.Suites = suites
	for _, s := range suites {
		switch {
		case s.Authz != nil && !hasPDP:
			errs = append(errs, fmt.Errorf("%s: authorization cases but no pdp/ part", s.File))
		case s.Admission != nil && !hasAdmission:
			errs = append(errs, fmt.Errorf("%s: admission cases but no admission/ part", s.File))
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%w %s@%s:\n%w", ErrInvalidBundle, b.Name(), b.Revision(), joinErrs(errs))
	}
	return c, nil
}

// unknownFile returns a warning for a file that no part of agentguard
// reads, or "".
func unknownFile(name string) string {
	base := path.Base(name)
	dir := path.Dir(name)
	switch {
	case name == bundles.ManifestFile || name == bundles.SignaturesFile:
		return ""
	case dir == "admission" && (base == "config.yaml" || base == "images.yaml" || strings.HasSuffix(base, ".rego") ||
		base == "trusted_root.json" || strings.HasSuffix(base, ".pub")):
		return ""
	case dir == "pdp" && (strings.HasSuffix(base, ".cedar") || strings.HasSuffix(base, ".cedarschema") ||
		base == "entities.json" || base == "mapping.yaml" || base == "fallback.yaml" || base == "grants.yaml"):
		return ""
	case isAuthzFile(name) || isAdmissionFile(name):
		return ""
	case strings.HasSuffix(base, ".md") || base == "README" || base == "LICENSE":
		return ""
	}
	return fmt.Sprintf("%s: not read by agentguard (misplaced or misnamed?)", name)
}

// joinErrs joins errors one per line.
func joinErrs(errs []error) error { return errors.Join(errs...) }

func strictJSON(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("data after the JSON value")
	}
	return nil
}
