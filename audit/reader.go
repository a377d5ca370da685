package audit

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"time"
)

// Cursor reads the records of a log directory in order, across segments,
// while a writer may still be appending. Next returns io.EOF at the current
// end; a later Next continues with what was written since. A Cursor checks
// each record's form and hash but not the chain; use Verify for that.
type Cursor struct {
	dir   string
	seg   segment
	f     *os.File
	lr    *lineReader
	buf   []byte
	after uint64 // skip records up to this seq
	// next is the segment after the current one, once seen: the writer
	// completes a segment before it starts the next, so the current one is
	// read to its end once more before the cursor moves on.
	next *segment
}

// OpenCursor returns a cursor positioned before the first record with
// Seq > after (0 for the start of the log).
func OpenCursor(dir string, after uint64) (*Cursor, error) {
	segs, err := listSegments(dir)
	if err != nil {
		return nil, err
	}
	c := &Cursor{dir: dir, after: after}
	if len(segs) == 0 {
		return c, nil
	}
	i := 0
	for j, s := range segs {
		if s.first <= after+1 {
			i = j
		}
	}
	if err := c.open(segs[i]); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Cursor) open(seg segment) error {
	f, err := os.Open(filepath.Join(c.dir, seg.name))
	if err != nil {
		return fmt.Errorf("open segment: %w", err)
	}
	if c.f != nil {
		_ = c.f.Close()
	}
	c.seg, c.f, c.lr = seg, f, newLineReader(f)
	return nil
}

// Next returns the next record and the segment file it is in. It returns
// io.EOF when there is nothing more yet, and an error wrapping
// ErrMalformed or ErrHashMismatch for a bad line.
func (c *Cursor) Next() (Record, string, error) {
	for {
		if c.f == nil {
			segs, err := listSegments(c.dir)
			if err != nil {
				return Record{}, "", err
			}
			if len(segs) == 0 {
				return Record{}, "", io.EOF
			}
			if err := c.open(segs[0]); err != nil {
				return Record{}, "", err
			}
		}
		line, torn, err := c.lr.next(c.buf)
		if errors.Is(err, io.EOF) {
			if torn {
				// Not complete yet: read it again next time.
				if _, serr := c.f.Seek(c.lr.off, io.SeekStart); serr != nil {
					return Record{}, "", fmt.Errorf("seek %s: %w", c.seg.name, serr)
				}
				c.lr.r.Reset(c.f)
				return Record{}, "", io.EOF
			}
			if c.next != nil {
				next := *c.next
				c.next = nil
				if err := c.open(next); err != nil {
					return Record{}, "", err
				}
				continue
			}
			found, err := c.findNext()
			if err != nil || !found {
				if err == nil {
					err = io.EOF
				}
				return Record{}, "", err
			}
			continue
		}
		if err != nil {
			return Record{}, "", fmt.Errorf("%s: %w", c.seg.name, err)
		}
		c.buf = line[:0]
		r, err := ParseRecord(line)
		if err != nil {
			return Record{}, "", fmt.Errorf("%s: %w", c.seg.name, err)
		}
		if r.Seq <= c.after {
			continue
		}
		return r, c.seg.name, nil
	}
}

// findNext notes the segment after the current one, if there is one.
func (c *Cursor) findNext() (bool, error) {
	segs, err := listSegments(c.dir)
	if err != nil {
		return false, err
	}
	for _, s := range segs {
		if s.first > c.seg.first {
			c.next = &s
			return true, nil
		}
	}
	return false, nil
}

// Close releases the cursor's file.
func (c *Cursor) Close() error {
	if c.f == nil {
		return nil
	}
	err := c.f.Close()
	c.f = nil
	return err
}

// Tail returns the last n records of the log in dir, oldest first, and the
// Seq of the last record (0 for an empty log), reading segments from the
// end only as far as needed. A torn last line (a write in progress) is
// left out.
func Tail(dir string, n int) ([]Record, uint64, error) {
	segs, err := listSegments(dir)
	if err != nil {
		return nil, 0, err
	}
	var (
		out  []Record
		last uint64
	)
	for i := len(segs) - 1; i >= 0 && (len(out) < n || last == 0); i-- {
		recs, err := readSegment(dir, segs[i])
		if err != nil {
			return nil, 0, err
		}
		if last == 0 && len(recs) > 0 {
			last = recs[len(recs)-1].Seq
		}
		out = append(recs, out...)
		if len(out) > n {
			out = out[len(out)-n:]
		}
	}
	return out, last, nil
}

// readSegment parses every complete line of a segment.
func readSegment(dir string, seg segment) ([]Record, error) {
	f, err := os.Open(filepath.Join(dir, seg.name))
	if err != nil {
		return nil, fmt.Errorf("open segment: %w", err)
	}
	defer func() { _ = f.Close() }()
	lr := newLineReader(f)
	var (
		recs []Record
		buf  []byte
	)
	for {
		line, _, err := lr.next(buf)
		if errors.Is(err, io.EOF) {
			return recs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", seg.name, err)
		}
		buf = line[:0]
		r, err := ParseRecord(line)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", seg.name, err)
		}
		recs = append(recs, r)
	}
}

// Filter selects records. Empty fields match everything; Agent and Tool
// are path.Match glob patterns ("team-a/*").
type Filter struct {
	Kind     Kind
	Agent    string
	Tool     string
	Decision string
	// Since and Until bound Time: Since <= Time < Until.
	Since, Until time.Time
}

// Validate reports a malformed pattern.
func (f *Filter) Validate() error {
	for _, p := range []string{f.Agent, f.Tool} {
		if _, err := path.Match(p, ""); err != nil {
			return fmt.Errorf("filter pattern %q: %w", p, err)
		}
	}
	return nil
}

// Match reports whether r passes the filter.
func (f *Filter) Match(r *Record) bool {
	if f.Kind != "" && r.Kind != f.Kind {
		return false
	}
	if f.Decision != "" && r.Decision != f.Decision {
		return false
	}
	if !globMatch(f.Agent, r.Agent) || !globMatch(f.Tool, r.Tool) {
		return false
	}
	if !f.Since.IsZero() && r.Time.Before(f.Since) {
		return false
	}
	if !f.Until.IsZero() && !r.Time.Before(f.Until) {
		return false
	}
	return true
}

func globMatch(pattern, s string) bool {
	if pattern == "" {
		return true
	}
	ok, _ := path.Match(pattern, s)
	return ok
}
