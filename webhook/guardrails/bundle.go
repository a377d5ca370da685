package guardrails

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/agentguard/agentguard/webhook/images"
)

// ConfigFile and RulesGlob locate the admission part inside a bundle.
const (
	ConfigFile = "admission/config.yaml"
	RulesGlob  = "admission/*.rego"
)

// LoadBundle builds an Engine from the admission part of the bundle
// directory dir: admission/config.yaml (defaults when absent), the custom
// rules admission/*.rego and the image policy admission/images.yaml (with
// the key and trusted-root files it names). The revision is a SHA-256 over
// those files.
func LoadBundle(ctx context.Context, dir string) (*Engine, error) {
	if st, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("load bundle %q: %w", dir, err)
	} else if !st.IsDir() {
		return nil, fmt.Errorf("load bundle %q: not a directory", dir)
	}
	return LoadBundleFS(ctx, os.DirFS(dir), dir)
}

// LoadBundleFS is LoadBundle over a file system; name is used in errors.
func LoadBundleFS(ctx context.Context, fsys fs.FS, name string) (*Engine, error) {
	b, err := readBundle(fsys, name)
	if err != nil {
		return nil, err
	}
	cfg := DefaultConfig()
	if b.config != nil {
		if cfg, err = ParseConfig(b.config); err != nil {
			return nil, fmt.Errorf("load bundle %q: %s: %w", name, ConfigFile, err)
		}
	}
	imgs, err := images.Load(fsys)
	if err != nil {
		return nil, fmt.Errorf("load bundle %q: %s: %w", name, images.PolicyFile, err)
	}
	rev := b.revision
	if imgs != nil {
		// images.yaml and the files it references are covered by the
		// image policy's own revision.
		sum := sha256.Sum256([]byte(b.revision + "\x00" + imgs.Revision()))
		rev = hex.EncodeToString(sum[:])[:16]
	}
	if mrev := manifestRevision(fsys); mrev != "" {
		// A bundle names its revision: admission responses and decision
		// records use the same name the PDP does.
		rev = mrev
	}
	e, err := New(ctx, Options{Config: cfg, Rules: b.rules, Revision: rev, Images: imgs})
	if err != nil {
		return nil, fmt.Errorf("load bundle %q: %w", name, err)
	}
	return e, nil
}

// manifestRevision is the bundle's .manifest revision, or "".
func manifestRevision(fsys fs.FS) string {
	data, err := fs.ReadFile(fsys, ".manifest")
	if err != nil {
		return ""
	}
	var m struct {
		Revision string `json:"revision"`
	}
	if json.Unmarshal(data, &m) != nil {
		return ""
	}
	return m.Revision
}

type bundleFiles struct {
	config   []byte // nil when absent
	rules    map[string]string
	revision string
}

func readBundle(fsys fs.FS, name string) (*bundleFiles, error) {
	h := sha256.New()
	b := &bundleFiles{rules: map[string]string{}}
	data, err := fs.ReadFile(fsys, ConfigFile)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("load bundle %q: %w", name, err)
	default:
		b.config = data
		h.Write([]byte(ConfigFile + "\x00"))
		h.Write(data)
	}
	files, err := fs.Glob(fsys, RulesGlob)
	if err != nil {
		return nil, fmt.Errorf("load bundle %q: %w", name, err)
	}
	slices.Sort(files)
	for _, f := range files {
		if strings.HasSuffix(f, "_test.rego") {
			continue // Rego unit tests belong to `opa test`, not to admission
		}
		src, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, fmt.Errorf("load bundle %q: %w", name, err)
		}
		b.rules[filepath.ToSlash(path.Join(name, f))] = string(src)
		h.Write([]byte(f + "\x00"))
		h.Write(src)
	}
	b.revision = hex.EncodeToString(h.Sum(nil))[:16]
	return b, nil
}
