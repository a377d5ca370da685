package bundles

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"time"
)

// ManifestFile and SignaturesFile are the two bundle files with a fixed
// name at the bundle root.
const (
	ManifestFile   = ".manifest"
	SignaturesFile = ".signatures.json"
)

// Manifest is a bundle's .manifest (JSON).
type Manifest struct {
	// Name names the bundle, e.g. "default" or "acme-prod". Required.
	Name string `json:"name"`
	// Revision names this version of the bundle. Required. Decisions and
	// admission responses record it. Revisions are ordered naturally (runs
	// of digits compare as numbers, see CompareRevisions) for the
	// minimum-revision check, so use a counter or a date-based revision
	// such as "2026.11.27-1" when that check is on.
	Revision string `json:"revision"`
	// Created is when the revision was made (RFC 3339). Optional.
	Created *time.Time `json:"created,omitempty"`
	// Roots are the top-level directories the bundle owns, e.g.
	// ["admission", "pdp", "tests"]. Every file other than .manifest and
	// .signatures.json must lie under a root. Empty means every file.
	Roots []string `json:"roots,omitempty"`
	// MinAgentguardVersion is the oldest agentguard release that may
	// activate the bundle (semantic version, e.g. "0.3.0"). Optional.
	MinAgentguardVersion string `json:"minAgentguardVersion,omitempty"`
	// Source records where the bundle was built from (AG-CC-003).
	Source *ManifestSource `json:"source,omitempty"`
}

// ManifestSource names the version-control origin of a bundle.
type ManifestSource struct {
	// Repository is the repository URL.
	Repository string `json:"repository,omitempty"`
	// Commit is the commit the bundle was built from.
	Commit string `json:"commit,omitempty"`
}

// ErrInvalidManifest is wrapped by every error about a .manifest.
var ErrInvalidManifest = errors.New("invalid .manifest")

// maxManifestBytes bounds .manifest; it is a few hundred bytes in practice.
const maxManifestBytes = 64 << 10

// ParseManifest decodes and validates a .manifest strictly: unknown fields,
// trailing data and missing required fields are errors.
func ParseManifest(data []byte) (*Manifest, error) {
	if len(data) > maxManifestBytes {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrInvalidManifest, maxManifestBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var m Manifest
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidManifest, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: data after the JSON object", ErrInvalidManifest)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

// Validate checks the required fields and the form of the others.
func (m *Manifest) Validate() error {
	var errs []error
	if m.Name == "" {
		errs = append(errs, errors.New("name is required"))
	} else if err := checkLabel(m.Name); err != nil {
		errs = append(errs, fmt.Errorf("name: %w", err))
	}
	if m.Revision == "" {
		errs = append(errs, errors.New("revision is required"))
	} else if err := checkLabel(m.Revision); err != nil {
		errs = append(errs, fmt.Errorf("revision: %w", err))
	}
	seen := map[string]bool{}
	for _, r := range m.Roots {
		switch {
		case r == "" || strings.Contains(r, "/") || r == "." || r == ".." || strings.HasPrefix(r, "."):
			errs = append(errs, fmt.Errorf("root %q: want a top-level directory name such as \"pdp\"", r))
		case seen[r]:
			errs = append(errs, fmt.Errorf("root %q is listed twice", r))
		}
		seen[r] = true
	}
	if v := m.MinAgentguardVersion; v != "" {
		if _, ok := parseSemver(v); !ok {
			errs = append(errs, fmt.Errorf("minAgentguardVersion %q: want a version such as 0.3.0", v))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidManifest, err)
	}
	return nil
}

// InRoots reports whether the bundle file name lies under one of the
// manifest's roots (always true without roots).
func (m *Manifest) InRoots(name string) bool {
	if name == ManifestFile || name == SignaturesFile || len(m.Roots) == 0 {
		return true
	}
	top, _, _ := strings.Cut(name, "/")
	for _, r := range m.Roots {
		if top == r {
			return true
		}
	}
	return false
}

// Marshal encodes the manifest as indented JSON with a final newline.
func (m *Manifest) Marshal() ([]byte, error) {
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(data, '\n'), nil
}

// checkLabel accepts printable ASCII without spaces or path separators,
// up to 128 bytes: names and revisions end up in metric labels, file names
// and OCI annotations.
func checkLabel(s string) error {
	if len(s) > 128 {
		return errors.New("longer than 128 bytes")
	}
	for _, r := range s {
		if r <= ' ' || r > '~' || r == '/' || r == '\\' {
			return fmt.Errorf("%q: only printable ASCII without spaces or slashes", s)
		}
	}
	if path.Clean(s) != s || s == "." || s == ".." {
		return fmt.Errorf("%q is not allowed", s)
	}
	return nil
}
