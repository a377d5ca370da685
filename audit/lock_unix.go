//go:build unix

package audit

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// ErrLocked means that another Log has the directory open.
var ErrLocked = errors.New("log directory is in use by another writer")

// lockDir takes an exclusive advisory lock on dir/LOCK so that two writers
// never interleave records in one directory.
func lockDir(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil { //nolint:gosec // a file descriptor fits in an int
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, ErrLocked
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return f, nil
}

// unlockDir releases the lock taken by lockDir.
func unlockDir(f *os.File, _ string) error {
	return f.Close()
}
