package bundles

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
)

func TestArchiveRoundTripIsDeterministic(t *testing.T) {
	t.Parallel()
	b := mustSign(t, mustNew(t, testFiles("1")), mustKey(t, Ed25519))
	a1 := mustArchive(t, b)
	a2 := mustArchive(t, b)
	if !bytes.Equal(a1, a2) {
		t.Fatal("two archives of the same bundle differ")
	}
	// Reading the same files from a directory gives the same archive.
	dir := t.TempDir()
	if err := WriteDir(dir, b); err != nil {
		t.Fatal(err)
	}
	// File times and modes on disk do not matter.
	if err := os.Chmod(filepath.Join(dir, "pdp/tools.cedar"), 0o600); err != nil {
		t.Fatal(err)
	}
	fromDir, err := Read(dir, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a1, mustArchive(t, fromDir)) {
		t.Fatal("archive of the bundle read back from a directory differs")
	}
	got, err := ReadArchive(bytes.NewReader(a1), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(b.Files(), got.Files()); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
	if got.Digest() != b.Digest() {
		t.Errorf("digest %s, want %s", got.Digest(), b.Digest())
	}
	for _, n := range b.Files() {
		want, _ := b.ReadFile(n)
		have, _ := got.ReadFile(n)
		if !bytes.Equal(want, have) {
			t.Errorf("%s differs after round trip", n)
		}
	}
	// The gzip header has no name and no mtime.
	zr, err := gzip.NewReader(bytes.NewReader(a1))
	if err != nil {
		t.Fatal(err)
	}
	if zr.Name != "" || !zr.ModTime.IsZero() {
		t.Errorf("gzip header name %q mtime %v, want none", zr.Name, zr.ModTime)
	}
	tr := tar.NewReader(zr)
	var names []string
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		if h.Uid != 0 || h.Gid != 0 || h.Uname != "" || h.Gname != "" || h.Mode != 0o644 || h.ModTime.Unix() != 0 {
			t.Errorf("%s: header %+v is not normalized", h.Name, h)
		}
	}
	if diff := cmp.Diff(b.Files(), names); diff != "" {
		t.Errorf("entry order (-want +got):\n%s", diff)
	}
}

func TestBundleFS(t *testing.T) {
	t.Parallel()
	b := mustNew(t, testFiles("1"))
	if err := fstest.TestFS(b.FS(), ".manifest", "pdp/schema.cedarschema", "pdp/tools.cedar", "admission/config.yaml", "tests/authz.json"); err != nil {
		t.Fatal(err)
	}
}

// entry is one raw tar entry for hostile archives.
type entry struct {
	hdr  tar.Header
	data []byte
}

func rawArchive(t testing.TB, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		h := e.hdr
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Typeflag == tar.TypeReg && h.Size == 0 {
			h.Size = int64(len(e.data))
		}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if len(e.data) > 0 {
			if _, err := tw.Write(e.data); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func file(name, data string) entry {
	return entry{hdr: tar.Header{Name: name}, data: []byte(data)}
}

var manifestEntry = file(".manifest", `{"name":"x","revision":"1"}`)

func TestReadArchiveRefusesUnsafeInput(t *testing.T) {
	t.Parallel()
	bomb := func() []byte {
		// 64 MiB of zeros compresses to ~64 KiB.
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		tw := tar.NewWriter(zw)
		_ = tw.WriteHeader(&tar.Header{Name: ".manifest", Typeflag: tar.TypeReg, Size: 27, Mode: 0o644})
		_, _ = tw.Write([]byte(`{"name":"x","revision":"1"}`))
		_ = tw.WriteHeader(&tar.Header{Name: "pdp/big", Typeflag: tar.TypeReg, Size: 64 << 20, Mode: 0o644})
		_, _ = io.Copy(tw, io.LimitReader(zeros{}, 64<<20))
		_ = tw.Close()
		_ = zw.Close()
		return buf.Bytes()
	}()
	manyFiles := []entry{manifestEntry}
	for i := range 20 {
		manyFiles = append(manyFiles, file("pdp/f"+strings.Repeat("x", i), "x"))
	}
	tests := []struct {
		name    string
		archive []byte
		limits  Limits
		want    error
	}{
		{name: "parent traversal", archive: rawArchive(t, manifestEntry, file("../evil", "x")), want: ErrUnsafePath},
		{name: "nested traversal", archive: rawArchive(t, manifestEntry, file("pdp/../../evil", "x")), want: ErrUnsafePath},
		{name: "absolute path", archive: rawArchive(t, manifestEntry, file("/etc/passwd", "x")), want: ErrUnsafePath},
		{name: "backslash path", archive: rawArchive(t, manifestEntry, file(`pdp\..\evil`, "x")), want: ErrUnsafePath},
		{name: "control character", archive: rawArchive(t, manifestEntry, file("pdp/a\nb.cedar", "x")), want: ErrUnsafePath},
		{name: "symlink", archive: rawArchive(t, manifestEntry, entry{hdr: tar.Header{Name: "pdp/link", Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd"}}), want: ErrUnsafePath},
		{name: "hard link", archive: rawArchive(t, manifestEntry, entry{hdr: tar.Header{Name: "pdp/link", Typeflag: tar.TypeLink, Linkname: ".manifest"}}), want: ErrUnsafePath},
		{name: "device", archive: rawArchive(t, manifestEntry, entry{hdr: tar.Header{Name: "pdp/dev", Typeflag: tar.TypeChar}}), want: ErrUnsafePath},
		{name: "fifo", archive: rawArchive(t, manifestEntry, entry{hdr: tar.Header{Name: "pdp/fifo", Typeflag: tar.TypeFifo}}), want: ErrUnsafePath},
		{name: "duplicate", archive: rawArchive(t, manifestEntry, file("pdp/a", "1"), file("pdp/a", "2")), want: ErrBadArchive},
		{name: "file and directory", archive: rawArchive(t, manifestEntry, file("pdp", "1"), file("pdp/a", "2")), want: ErrUnsafePath},
		{name: "gzip bomb", archive: bomb, want: ErrTooLarge},
		{name: "file over limit", archive: rawArchive(t, manifestEntry, file("pdp/a", strings.Repeat("a", 2000))), limits: Limits{MaxFileBytes: 1000}, want: ErrTooLarge},
		{name: "total over limit", archive: rawArchive(t, manifestEntry, file("pdp/a", strings.Repeat("a", 600)), file("pdp/b", strings.Repeat("b", 600))), limits: Limits{MaxTotalBytes: 1000}, want: ErrTooLarge},
		{name: "too many files", archive: rawArchive(t, manyFiles...), limits: Limits{MaxFiles: 10}, want: ErrTooLarge},
		{name: "compressed over limit", archive: rawArchive(t, manifestEntry, file("pdp/a", strings.Repeat("ab", 500))), limits: Limits{MaxArchiveBytes: 64}, want: ErrTooLarge},
		{name: "not gzip", archive: []byte("PK\x03\x04 a zip file"), want: ErrBadArchive},
		{name: "truncated", archive: rawArchive(t, manifestEntry, file("pdp/a", strings.Repeat("abc", 1000)))[:60], want: ErrBadArchive},
		{name: "no manifest", archive: rawArchive(t, file("pdp/a", "x")), want: ErrInvalidManifest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := ReadArchive(bytes.NewReader(tt.archive), tt.limits)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestReadArchiveAcceptsDirectoriesAndDotSlash(t *testing.T) {
	t.Parallel()
	a := rawArchive(t,
		entry{hdr: tar.Header{Name: "./", Typeflag: tar.TypeDir, Mode: 0o755}},
		file("./.manifest", `{"name":"x","revision":"1"}`),
		entry{hdr: tar.Header{Name: "./pdp/", Typeflag: tar.TypeDir, Mode: 0o755}},
		file("./pdp/a.cedar", "x"),
	)
	b, err := ReadArchive(bytes.NewReader(a), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{".manifest", "pdp/a.cedar"}, b.Files()); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func TestReadDirRefusesSymlinks(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := WriteDir(dir, mustNew(t, testFiles("1"))); err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(outside, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "pdp", "link.cedar")); err != nil {
		t.Skipf("symlinks unsupported: %v", err)
	}
	if _, err := Read(dir, Limits{}); !errors.Is(err, ErrUnsafePath) {
		t.Fatalf("err = %v, want ErrUnsafePath", err)
	}
}

func TestReadDirLimits(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := WriteDir(dir, mustNew(t, testFiles("1"))); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(dir, Limits{MaxFileBytes: 16}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
	if _, err := Read(dir, Limits{MaxFiles: 2}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
}

func FuzzReadArchive(f *testing.F) {
	b, err := New(testFiles("1"))
	if err != nil {
		f.Fatal(err)
	}
	good, err := MarshalArchive(b)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(rawArchive(f, manifestEntry, file("../evil", "x")))
	f.Add(rawArchive(f, manifestEntry, entry{hdr: tar.Header{Name: "l", Typeflag: tar.TypeSymlink, Linkname: "/"}}))
	f.Add(good[:len(good)/2])
	f.Add([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff})
	limits := Limits{MaxArchiveBytes: 1 << 20, MaxTotalBytes: 1 << 20, MaxFileBytes: 256 << 10, MaxFiles: 64}
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := ReadArchive(bytes.NewReader(data), limits)
		if err != nil {
			return
		}
		// Whatever was accepted is a safe, bounded tree that survives a
		// write and read unchanged.
		var total int
		for _, n := range b.Files() {
			if err := checkName(n); err != nil {
				t.Fatalf("accepted unsafe name %q", n)
			}
			d, _ := b.ReadFile(n)
			total += len(d)
		}
		if total > int(limits.MaxTotalBytes) || len(b.Files()) > limits.MaxFiles {
			t.Fatalf("accepted %d files, %d bytes: over the limits", len(b.Files()), total)
		}
		out, err := MarshalArchive(b)
		if err != nil {
			t.Fatal(err)
		}
		b2, err := ReadArchive(bytes.NewReader(out), Limits{})
		if err != nil {
			t.Fatalf("re-read: %v", err)
		}
		if b2.Digest() != b.Digest() {
			t.Fatal("digest changed after a write and read")
		}
	})
}
