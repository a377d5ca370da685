package bundles

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
)

// dirSource reads a bundle directory; its version is the content digest
// plus the signature, so re-signing counts as a change.
type dirSource struct {
	dir    string
	limits Limits
}

func (s *dirSource) String() string { return s.dir }

func (s *dirSource) Fetch(_ context.Context, since string) (*Fetched, error) {
	b, err := ReadDir(s.dir, s.limits)
	if err != nil {
		return nil, fmt.Errorf("read bundle directory %q: %w", s.dir, err)
	}
	b.Source = s.dir
	v := bundleVersion(b)
	if v == since {
		return nil, ErrNotModified
	}
	return &Fetched{Bundle: b, Version: v}, nil
}

func bundleVersion(b *Bundle) string {
	h := sha256.New()
	h.Write([]byte(b.Digest()))
	h.Write(b.files[SignaturesFile])
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// Watch reports changes anywhere under the directory, debounced, so that
// an editor's save or a `git checkout` triggers one fetch.
func (s *dirSource) Watch(ctx context.Context) (<-chan struct{}, error) {
	return watch(ctx, s.dir, true, nil)
}

// fileSource reads a .tar.gz file; its version is the file's SHA-256.
type fileSource struct {
	path   string
	limits Limits
}

func (s *fileSource) String() string { return s.path }

func (s *fileSource) Fetch(_ context.Context, since string) (*Fetched, error) {
	l := s.limits.withDefaults()
	f, err := os.Open(s.path)
	if err != nil {
		return nil, fmt.Errorf("read bundle %q: %w", s.path, err)
	}
	defer func() { _ = f.Close() }()
	data, err := io.ReadAll(io.LimitReader(f, l.MaxArchiveBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read bundle %q: %w", s.path, err)
	}
	sum := sha256.Sum256(data)
	v := "sha256:" + hex.EncodeToString(sum[:])
	if v == since {
		return nil, ErrNotModified
	}
	b, err := ReadArchive(bytes.NewReader(data), s.limits)
	if err != nil {
		return nil, fmt.Errorf("read bundle %q: %w", s.path, err)
	}
	b.Source = s.path
	return &Fetched{Bundle: b, Version: v}, nil
}

// Watch watches the file's directory: tools replace files by renaming a
// new one over them, which a watch on the file itself would miss. A
// Kubernetes ConfigMap or Secret volume updates its files by swapping the
// "..data" symlink, so events on ".."-prefixed names count too.
func (s *fileSource) Watch(ctx context.Context) (<-chan struct{}, error) {
	base := filepath.Base(s.path)
	return watch(ctx, filepath.Dir(s.path), false, func(name string) bool {
		b := filepath.Base(name)
		return b == base || strings.HasPrefix(b, "..")
	})
}

// debounce is how long a watcher waits for more events before reporting.
const debounce = 150 * time.Millisecond

// watch reports (debounced) file system events under dir; recursive adds
// subdirectories, including ones created later; match filters events by
// path when non-nil.
func watch(ctx context.Context, dir string, recursive bool, match func(string) bool) (<-chan struct{}, error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	add := func(root string) error {
		if !recursive {
			return w.Add(root)
		}
		return filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				return w.Add(p)
			}
			return nil
		})
	}
	if err := add(dir); err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("watch %q: %w", dir, err)
	}
	out := make(chan struct{}, 1)
	go func() {
		defer func() { _ = w.Close() }()
		var timer *time.Timer
		var fire <-chan time.Time
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-w.Events:
				if !ok {
					return
				}
				if recursive && ev.Has(fsnotify.Create) {
					if st, err := os.Stat(ev.Name); err == nil && st.IsDir() {
						_ = add(ev.Name)
					}
				}
				if match != nil && !match(ev.Name) {
					continue
				}
				if timer == nil {
					timer = time.NewTimer(debounce)
				} else {
					timer.Reset(debounce)
				}
				fire = timer.C
			case _, ok := <-w.Errors:
				if !ok {
					return
				}
				// Overflow or a removed directory: tell the Manager to
				// re-read; polling covers anything missed.
				select {
				case out <- struct{}{}:
				default:
				}
			case <-fire:
				fire = nil
				select {
				case out <- struct{}{}:
				default:
				}
			}
		}
	}()
	return out, nil
}
