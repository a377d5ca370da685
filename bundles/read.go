package bundles

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// Read reads the bundle at path: a directory (see ReadDir) or a .tar.gz
// file (see ReadArchive).
func Read(path string, limits Limits) (*Bundle, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("read bundle: %w", err)
	}
	var b *Bundle
	if st.IsDir() {
		b, err = ReadDir(path, limits)
	} else {
		b, err = readArchiveFile(path, limits)
	}
	if err != nil {
		return nil, fmt.Errorf("read bundle %q: %w", path, err)
	}
	b.Source = path
	return b, nil
}

func readArchiveFile(path string, limits Limits) (*Bundle, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	return ReadArchive(f, limits)
}

// ReadDir reads the bundle rooted at directory dir. Every regular file
// under dir is part of the bundle; symbolic links and other special files
// are refused, as are bundles over the limits.
func ReadDir(dir string, limits Limits) (*Bundle, error) {
	bud := &budget{l: limits.withDefaults()}
	files := map[string][]byte{}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer func() { _ = root.Close() }()
	err = fs.WalkDir(root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return nil
		case d.Type()&fs.ModeSymlink != 0:
			return fmt.Errorf("%w: %s is a symbolic link", ErrUnsafePath, p)
		case !d.Type().IsRegular():
			return fmt.Errorf("%w: %s is not a regular file", ErrUnsafePath, p)
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if err := bud.addFile(p, info.Size()); err != nil {
			return err
		}
		data, err := readLimited(root, p, bud.l.MaxFileBytes)
		if err != nil {
			return err
		}
		files[filepath.ToSlash(p)] = data
		return nil
	})
	if err != nil {
		return nil, err
	}
	return New(files)
}

// readLimited reads a file through root (which refuses to follow links out
// of the directory), enforcing the limit even if the file grew since Stat.
func readLimited(root *os.Root, name string, limit int64) ([]byte, error) {
	f, err := root.Open(name)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrTooLarge, name, limit)
	}
	return data, nil
}

// WriteDir writes b's files under dir, creating directories as needed.
// Existing files with the same names are replaced; others are left alone.
func WriteDir(dir string, b *Bundle) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer func() { _ = root.Close() }()
	var errs []error
	for _, name := range b.names {
		if d := filepath.Dir(filepath.FromSlash(name)); d != "." {
			if err := root.MkdirAll(d, 0o750); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		errs = append(errs, root.WriteFile(filepath.FromSlash(name), b.files[name], 0o644))
	}
	return errors.Join(errs...)
}
