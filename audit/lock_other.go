//go:build !unix

package audit

import (
	"errors"
	"fmt"
	"os"
)

// ErrLocked means that another Log has the directory open.
var ErrLocked = errors.New("log directory is in use by another writer")

// lockDir creates dir/LOCK exclusively; without flock a stale LOCK file
// left by a crash has to be removed by hand.
func lockDir(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o600)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return nil, ErrLocked
		}
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	return f, nil
}

// unlockDir releases the lock taken by lockDir.
func unlockDir(f *os.File, path string) error {
	return errors.Join(f.Close(), os.Remove(path))
}
