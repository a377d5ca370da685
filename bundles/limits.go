package bundles

import (
	"errors"
	"fmt"
)

// Limits bound what a bundle may hold, so that a hostile source cannot
// exhaust memory (gzip bombs, millions of entries). The zero value of a
// field means its default.
type Limits struct {
	// MaxArchiveBytes bounds a compressed archive as read from its source.
	// Default 32 MiB.
	MaxArchiveBytes int64
	// MaxTotalBytes bounds the sum of the uncompressed file sizes, and so
	// the expansion of an archive. Default 64 MiB.
	MaxTotalBytes int64
	// MaxFileBytes bounds one file. Default 8 MiB.
	MaxFileBytes int64
	// MaxFiles bounds the number of files. Default 4096.
	MaxFiles int
}

func (l Limits) withDefaults() Limits {
	if l.MaxArchiveBytes <= 0 {
		l.MaxArchiveBytes = 32 << 20
	}
	if l.MaxTotalBytes <= 0 {
		l.MaxTotalBytes = 64 << 20
	}
	if l.MaxFileBytes <= 0 {
		l.MaxFileBytes = 8 << 20
	}
	if l.MaxFiles <= 0 {
		l.MaxFiles = 4096
	}
	return l
}

// ErrTooLarge is wrapped by errors about bundles over a limit.
var ErrTooLarge = errors.New("bundle over size limit")

// budget tracks a bundle being read against its limits.
type budget struct {
	l     Limits
	files int
	total int64
}

func (b *budget) addFile(name string, size int64) error {
	b.files++
	if b.files > b.l.MaxFiles {
		return fmt.Errorf("%w: more than %d files", ErrTooLarge, b.l.MaxFiles)
	}
	if size > b.l.MaxFileBytes {
		return fmt.Errorf("%w: %s is larger than %d bytes", ErrTooLarge, name, b.l.MaxFileBytes)
	}
	b.total += size
	if b.total > b.l.MaxTotalBytes {
		return fmt.Errorf("%w: files total more than %d bytes", ErrTooLarge, b.l.MaxTotalBytes)
	}
	return nil
}
