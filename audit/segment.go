package audit

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Files of a log directory.
const (
	// CheckpointFile holds the signed checkpoints, one per line.
	CheckpointFile = "checkpoints.jsonl"
	lockFile       = "LOCK"
	segmentPrefix  = "seg-"
	segmentSuffix  = ".jsonl"
)

// MaxLineBytes bounds one record or checkpoint line. The writer keeps
// records well below it; readers refuse longer lines.
const MaxLineBytes = 1 << 20

// errLineTooLong: a line exceeds MaxLineBytes.
var errLineTooLong = fmt.Errorf("%w: line longer than %d bytes", ErrMalformed, MaxLineBytes)

// segmentName is the file name of the segment whose first record is seq.
func segmentName(first uint64) string {
	return fmt.Sprintf("%s%020d%s", segmentPrefix, first, segmentSuffix)
}

// parseSegmentName returns the first seq of a segment file name.
func parseSegmentName(name string) (uint64, bool) {
	digits, ok := strings.CutPrefix(name, segmentPrefix)
	if !ok {
		return 0, false
	}
	if digits, ok = strings.CutSuffix(digits, segmentSuffix); !ok || len(digits) != 20 {
		return 0, false
	}
	n, err := strconv.ParseUint(digits, 10, 64)
	if err != nil || n == 0 {
		return 0, false
	}
	return n, true
}

// segment is a segment file found in a log directory.
type segment struct {
	name  string
	first uint64
}

// listSegments returns the segment files of dir in order.
func listSegments(dir string) ([]segment, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read log directory: %w", err)
	}
	var segs []segment
	for _, e := range ents {
		if first, ok := parseSegmentName(e.Name()); ok && e.Type().IsRegular() {
			segs = append(segs, segment{name: e.Name(), first: first})
		}
	}
	slices.SortFunc(segs, func(a, b segment) int {
		switch {
		case a.first < b.first:
			return -1
		case a.first > b.first:
			return 1
		}
		return 0
	})
	return segs, nil
}

// lineReader reads newline-terminated lines of at most MaxLineBytes and
// tracks the offset of the next line.
type lineReader struct {
	r   *bufio.Reader
	off int64
}

func newLineReader(r io.Reader) *lineReader {
	return &lineReader{r: bufio.NewReaderSize(r, 64<<10)}
}

// next returns the next complete line without its newline. At the end it
// returns io.EOF; torn is true when bytes without a final newline remain
// (they are not consumed from the offset's point of view).
func (lr *lineReader) next(buf []byte) (line []byte, torn bool, err error) {
	buf = buf[:0]
	for {
		chunk, err := lr.r.ReadSlice('\n')
		buf = append(buf, chunk...)
		if len(buf) > MaxLineBytes+1 {
			return nil, false, errLineTooLong
		}
		switch {
		case err == nil:
			lr.off += int64(len(buf))
			return buf[:len(buf)-1], false, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			return buf, len(buf) > 0, io.EOF
		default:
			return nil, false, err
		}
	}
}

// checkpointFile is what readCheckpoints found.
type checkpointFile struct {
	cps   []Checkpoint
	good  int64 // bytes of complete, valid lines
	torn  bool  // a final line without its newline follows
	lines int   // complete lines read
}

// readCheckpoints reads dir/checkpoints.jsonl up to the first bad line,
// which it reports as the error (wrapping fs.ErrNotExist when the file is
// missing).
func readCheckpoints(dir string) (checkpointFile, error) {
	var out checkpointFile
	f, err := os.Open(filepath.Join(dir, CheckpointFile))
	if err != nil {
		return out, err
	}
	defer func() { _ = f.Close() }()
	var buf []byte
	lr := newLineReader(f)
	for n := 1; ; n++ {
		line, torn, err := lr.next(buf)
		if errors.Is(err, io.EOF) {
			out.torn = torn
			return out, nil
		}
		if err != nil {
			return out, fmt.Errorf("%s line %d: %w", CheckpointFile, n, err)
		}
		cp, err := ParseCheckpoint(line)
		if err != nil {
			return out, fmt.Errorf("%s line %d: %w", CheckpointFile, n, err)
		}
		out.cps = append(out.cps, cp)
		out.good, out.lines = lr.off, n
		buf = line[:0]
	}
}
