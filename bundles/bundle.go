package bundles

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"strings"
)

// Bundle is a bundle held in memory: its files, its parsed manifest and,
// once verified, its signer. A Bundle is immutable; it is safe for
// concurrent use.
type Bundle struct {
	// Manifest is the parsed .manifest.
	Manifest Manifest
	// Signer identifies the key that signed the bundle (its key ID, see
	// KeyID). Empty until Verifier.Verify succeeds, and for bundles
	// activated with verification skipped.
	Signer string
	// Source describes where the bundle came from (a path, URL or
	// reference); informational.
	Source string

	files  map[string][]byte
	names  []string
	digest string
}

// New builds a bundle from file contents keyed by slash-separated path
// relative to the bundle root. It requires a valid .manifest and refuses
// names that are not clean relative paths. The map is not retained.
func New(files map[string][]byte) (*Bundle, error) {
	b := &Bundle{files: make(map[string][]byte, len(files))}
	for name, data := range files {
		if err := checkName(name); err != nil {
			return nil, err
		}
		b.files[name] = slices.Clone(data)
	}
	b.names = slices.Sorted(maps.Keys(b.files))
	for i := 1; i < len(b.names); i++ {
		// "a" as a file and "a/b" as a file cannot both exist in a tree.
		if strings.HasPrefix(b.names[i], b.names[i-1]+"/") {
			return nil, fmt.Errorf("%w: %q is both a file and a directory", ErrUnsafePath, b.names[i-1])
		}
	}
	man, ok := b.files[ManifestFile]
	if !ok {
		return nil, fmt.Errorf("%w: no %s file", ErrInvalidManifest, ManifestFile)
	}
	m, err := ParseManifest(man)
	if err != nil {
		return nil, err
	}
	b.Manifest = *m
	var outside []string
	for _, n := range b.names {
		if !m.InRoots(n) {
			outside = append(outside, n)
		}
	}
	if len(outside) > 0 {
		return nil, fmt.Errorf("%w: files outside the roots %v: %s", ErrInvalidManifest, m.Roots, strings.Join(outside, ", "))
	}
	h := sha256.New()
	for _, n := range b.names {
		if n == SignaturesFile {
			continue
		}
		sum := sha256.Sum256(b.files[n])
		fmt.Fprintf(h, "%s\x00%x\n", n, sum)
	}
	b.digest = "sha256:" + hex.EncodeToString(h.Sum(nil))
	return b, nil
}

// ErrUnsafePath is wrapped by errors about file names that could escape the
// bundle root or are not plain files (absolute paths, "..", links, devices).
var ErrUnsafePath = errors.New("unsafe path in bundle")

// checkName accepts clean, relative, slash-separated paths.
func checkName(name string) error {
	if !fs.ValidPath(name) || name == "." || strings.Contains(name, `\`) {
		return fmt.Errorf("%w: %q", ErrUnsafePath, name)
	}
	for _, r := range name {
		if r < ' ' || r == 0x7f {
			return fmt.Errorf("%w: %q has control characters", ErrUnsafePath, name)
		}
	}
	return nil
}

// Revision is the manifest's revision.
func (b *Bundle) Revision() string { return b.Manifest.Revision }

// Name is the manifest's name.
func (b *Bundle) Name() string { return b.Manifest.Name }

// Digest is a SHA-256 over the names and contents of every file except
// .signatures.json, as "sha256:<hex>": two bundles with the same digest
// hold the same policies whoever signed them.
func (b *Bundle) Digest() string { return b.digest }

// Files returns the names of every file, sorted, .signatures.json included.
func (b *Bundle) Files() []string { return slices.Clone(b.names) }

// ReadFile returns a copy of the named file's contents.
func (b *Bundle) ReadFile(name string) ([]byte, error) {
	data, ok := b.files[name]
	if !ok {
		return nil, &fs.PathError{Op: "read", Path: name, Err: fs.ErrNotExist}
	}
	return slices.Clone(data), nil
}

// Signed reports whether the bundle has a .signatures.json.
func (b *Bundle) Signed() bool {
	_, ok := b.files[SignaturesFile]
	return ok
}

// FS returns the bundle as a read-only file system, e.g. for pdp.ReadFS and
// guardrails.LoadBundleFS.
func (b *Bundle) FS() fs.FS { return newMemFS(b.files) }

// with returns a copy of b with one file replaced (or added).
func (b *Bundle) with(name string, data []byte) (*Bundle, error) {
	files := maps.Clone(b.files)
	files[name] = data
	nb, err := New(files)
	if err != nil {
		return nil, err
	}
	nb.Source = b.Source
	return nb, nil
}

// WithManifest returns a copy of b with .manifest replaced by m (validated)
// and without .signatures.json, which no longer matches: sign the result.
// `bundle build --revision` and `--source-commit` use it.
func (b *Bundle) WithManifest(m Manifest) (*Bundle, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	data, err := m.Marshal()
	if err != nil {
		return nil, err
	}
	files := maps.Clone(b.files)
	delete(files, SignaturesFile)
	files[ManifestFile] = data
	nb, err := New(files)
	if err != nil {
		return nil, err
	}
	nb.Source = b.Source
	return nb, nil
}
