package bundles

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
)

// Source fetches bundles from one place: a directory, a .tar.gz file, an
// https:// URL or an oci:// reference (see OpenSource). Sources do not
// verify bundles; the Manager does.
type Source interface {
	// Fetch returns the bundle at the source, or an error wrapping
	// ErrNotModified when the source still holds version since (the
	// Version of an earlier Fetched; "" fetches unconditionally).
	Fetch(ctx context.Context, since string) (*Fetched, error)
	// String describes the source for status and errors.
	String() string
}

// Watcher is implemented by sources that can tell when they change
// (directories and files, through file system notifications). Changes are
// hints: the Manager fetches and compares versions anyway.
type Watcher interface {
	// Watch returns a channel that receives a value after changes, until
	// ctx ends.
	Watch(ctx context.Context) (<-chan struct{}, error)
}

// Fetched is a bundle read from a source, with the source's version of it
// (an ETag, a digest) for conditional fetches.
type Fetched struct {
	Bundle  *Bundle
	Version string
}

// ErrNotModified is returned (wrapped) by Fetch when the source has not
// changed since the given version.
var ErrNotModified = errors.New("bundle not modified")

// SourceOptions configures OpenSource.
type SourceOptions struct {
	// Limits bound the bundles read. Zero fields mean their defaults.
	Limits Limits
	// HTTPClient fetches https:// bundles and talks to OCI registries.
	// Default: a client with http.DefaultTransport. Per-fetch timeouts
	// come from the context.
	HTTPClient *http.Client
	// Header is added to every https:// request (e.g. Authorization).
	Header http.Header
	// Keychain resolves OCI registry credentials. Default anonymous; the
	// CLI passes authn.DefaultKeychain (docker config).
	Keychain authn.Keychain
	// InsecureHTTP allows http:// URLs and plain-HTTP OCI registries.
	// Never use it in production: a bundle fetched in the clear can still
	// be verified, but its absence or staleness cannot be detected.
	InsecureHTTP bool
}

func (o *SourceOptions) setDefaults() {
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Transport: http.DefaultTransport}
	}
	if o.Keychain == nil {
		o.Keychain = authn.NewMultiKeychain() // anonymous
	}
}

// OpenSource returns the source for ref: "https://..." (HTTP with ETag
// polling), "oci://registry/repository:tag" or "oci://...@sha256:...", a
// directory, or a .tar.gz file path ("file://" prefix optional).
func OpenSource(ref string, opts SourceOptions) (Source, error) {
	opts.setDefaults()
	switch {
	case strings.HasPrefix(ref, "https://"):
		return newHTTPSource(ref, opts)
	case strings.HasPrefix(ref, "http://"):
		if !opts.InsecureHTTP {
			return nil, fmt.Errorf("bundle source %q: plain http is refused; use https:// (or the insecure option for local tests)", ref)
		}
		return newHTTPSource(ref, opts)
	case strings.HasPrefix(ref, "oci://"):
		return newOCISource(strings.TrimPrefix(ref, "oci://"), opts)
	case strings.Contains(ref, "://") && !strings.HasPrefix(ref, "file://"):
		return nil, fmt.Errorf("bundle source %q: unknown scheme; want a path, file://, https:// or oci://", ref)
	}
	path := filepath.Clean(strings.TrimPrefix(ref, "file://"))
	st, err := os.Stat(path)
	switch {
	case err == nil && st.IsDir():
		return &dirSource{dir: path, limits: opts.Limits}, nil
	case err == nil:
		return &fileSource{path: path, limits: opts.Limits}, nil
	case errors.Is(err, os.ErrNotExist) && (strings.HasSuffix(path, ".tar.gz") || strings.HasSuffix(path, ".tgz")):
		// A file that does not exist yet (written later, or only the
		// last-known-good bundle is available) is fetched when it appears.
		return &fileSource{path: path, limits: opts.Limits}, nil
	}
	return nil, fmt.Errorf("bundle source %q: %w", ref, err)
}
