package guardrails

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// ConfigFile and RulesGlob locate the admission part inside a bundle.
const (
	ConfigFile = "admission/config.yaml"
	RulesGlob  = "admission/*.rego"
)

// LoadBundle builds an Engine from the admission part of the bundle
// directory dir: admission/config.yaml (defaults when absent) and the custom
// rules admission/*.rego. The revision is a SHA-256 over those files.
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
	h := sha256.New()
	cfg := DefaultConfig()
	data, err := fs.ReadFile(fsys, ConfigFile)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("load bundle %q: %w", name, err)
	default:
		if cfg, err = ParseConfig(data); err != nil {
			return nil, fmt.Errorf("load bundle %q: %s: %w", name, ConfigFile, err)
		}
		h.Write([]byte(ConfigFile + "\x00"))
		h.Write(data)
	}
	files, err := fs.Glob(fsys, RulesGlob)
	if err != nil {
		return nil, fmt.Errorf("load bundle %q: %w", name, err)
	}
	slices.Sort(files)
	rules := map[string]string{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.rego") {
			continue // Rego unit tests belong to `opa test`, not to admission
		}
		src, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, fmt.Errorf("load bundle %q: %w", name, err)
		}
		rules[filepath.ToSlash(path.Join(name, f))] = string(src)
		h.Write([]byte(f + "\x00"))
		h.Write(src)
	}
	e, err := New(ctx, Options{Config: cfg, Rules: rules, Revision: hex.EncodeToString(h.Sum(nil))[:16]})
	if err != nil {
		return nil, fmt.Errorf("load bundle %q: %w", name, err)
	}
	return e, nil
}
