package bundles

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// ErrBadArchive is wrapped by errors about archives that are not a
// gzip-compressed tar of regular files.
var ErrBadArchive = errors.New("bad bundle archive")

// ReadArchive reads a bundle from a .tar.gz. It refuses absolute paths,
// ".." and other unclean names, links, devices and other non-regular
// entries, duplicate names, and archives over the limits (compressed size,
// expanded size, file size, file count), whatever the headers claim.
// Directory entries are accepted and ignored.
func ReadArchive(r io.Reader, limits Limits) (*Bundle, error) {
	l := limits.withDefaults()
	// Read one byte past the limit to tell "exactly at" from "over".
	lr := &io.LimitedReader{R: r, N: l.MaxArchiveBytes + 1}
	br := bufio.NewReader(lr)
	zr, err := gzip.NewReader(br)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadArchive, err)
	}
	zr.Multistream(false)
	// The expanded stream is bounded too: tar headers and padding count
	// against the total, so a stream of empty entries cannot run forever.
	expanded := &io.LimitedReader{R: zr, N: l.MaxTotalBytes + int64(l.MaxFiles+2)*1024 + 1}
	tr := tar.NewReader(expanded)
	bud := &budget{l: l}
	files := map[string][]byte{}
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, archiveErr(lr, expanded, err)
		}
		name := strings.TrimPrefix(hdr.Name, "./")
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := checkName(strings.TrimSuffix(name, "/")); err != nil && name != "" {
				return nil, err
			}
			continue
		case tar.TypeReg:
		case tar.TypeSymlink, tar.TypeLink:
			return nil, fmt.Errorf("%w: %q is a link", ErrUnsafePath, hdr.Name)
		default:
			return nil, fmt.Errorf("%w: %q is not a regular file (type %q)", ErrUnsafePath, hdr.Name, hdr.Typeflag)
		}
		if err := checkName(name); err != nil {
			return nil, err
		}
		if _, dup := files[name]; dup {
			return nil, fmt.Errorf("%w: %q appears twice", ErrBadArchive, name)
		}
		if err := bud.addFile(name, hdr.Size); err != nil {
			return nil, err
		}
		data := make([]byte, 0, hdr.Size)
		buf := bytes.NewBuffer(data)
		if _, err := io.Copy(buf, io.LimitReader(tr, hdr.Size+1)); err != nil {
			return nil, archiveErr(lr, expanded, err)
		}
		if int64(buf.Len()) != hdr.Size {
			return nil, fmt.Errorf("%w: %q is truncated", ErrBadArchive, name)
		}
		files[name] = buf.Bytes()
	}
	// The gzip trailer (CRC, size) is checked when the stream ends.
	if _, err := io.Copy(io.Discard, expanded); err != nil {
		return nil, archiveErr(lr, expanded, err)
	}
	if expanded.N <= 0 {
		return nil, fmt.Errorf("%w: archive expands past %d bytes", ErrTooLarge, l.MaxTotalBytes)
	}
	if lr.N <= 0 {
		return nil, fmt.Errorf("%w: archive larger than %d bytes", ErrTooLarge, l.MaxArchiveBytes)
	}
	return New(files)
}

func archiveErr(lr, expanded *io.LimitedReader, err error) error {
	switch {
	case lr.N <= 0:
		return fmt.Errorf("%w: archive larger than compressed limit", ErrTooLarge)
	case expanded.N <= 0:
		return fmt.Errorf("%w: archive expands past its limit", ErrTooLarge)
	}
	return fmt.Errorf("%w: %w", ErrBadArchive, err)
}

// archiveEpoch is the modification time of every archive entry, so that
// archives of equal content are equal byte for byte.
var archiveEpoch = time.Unix(0, 0).UTC()

// WriteArchive writes b as a .tar.gz that depends only on the bundle's
// content: entries sorted by name, regular files only (directories are
// implied), mode 0644, uid/gid 0, no user or group names, a fixed mtime,
// and a gzip header without name or mtime. The same bundle written by the
// same agentguard build gives the same bytes.
func WriteArchive(w io.Writer, b *Bundle) error {
	zw, err := gzip.NewWriterLevel(w, gzip.BestCompression)
	if err != nil {
		return err
	}
	zw.OS = 255 // unknown, rather than the build machine's OS
	tw := tar.NewWriter(zw)
	for _, name := range b.names {
		data := b.files[name]
		hdr := &tar.Header{
			Typeflag: tar.TypeReg,
			Name:     name,
			Size:     int64(len(data)),
			Mode:     0o644,
			ModTime:  archiveEpoch,
			Format:   tar.FormatPAX,
		}
		if len(name) <= 100 {
			hdr.Format = tar.FormatUSTAR
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
		if _, err := tw.Write(data); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return zw.Close()
}

// MarshalArchive returns WriteArchive's output as bytes.
func MarshalArchive(b *Bundle) ([]byte, error) {
	var buf bytes.Buffer
	if err := WriteArchive(&buf, b); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
