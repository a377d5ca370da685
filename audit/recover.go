package audit

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// ErrCorrupt means that Open found damage that a crash cannot explain (inside the
// checkpointed part of the log, or in the checkpoints); it refuses to
// append to such a log. Run Verify for details.
var ErrCorrupt = errors.New("log is damaged")

// segmentScan is the readable prefix of one segment.
type segmentScan struct {
	count    int
	lastSeq  uint64
	lastHash string
	good     int64 // bytes of valid lines
	size     int64
	problem  error // why reading stopped before the end, or nil
}

// scanSegment reads a segment's records in order, checking numbering and
// links, and stops at the first line that does not fit.
func scanSegment(dir string, seg segment) (segmentScan, error) {
	var s segmentScan
	f, err := os.Open(filepath.Join(dir, seg.name))
	if err != nil {
		return s, fmt.Errorf("open segment: %w", err)
	}
	defer func() { _ = f.Close() }()
	fi, err := f.Stat()
	if err != nil {
		return s, fmt.Errorf("stat segment: %w", err)
	}
	s.size = fi.Size()
	lr := newLineReader(f)
	var buf []byte
	for {
		line, torn, err := lr.next(buf)
		if errors.Is(err, io.EOF) {
			if torn {
				s.problem = errors.New("last line is incomplete")
			}
			return s, nil
		}
		if err != nil {
			if errors.Is(err, ErrMalformed) {
				s.problem = err
				return s, nil
			}
			return s, fmt.Errorf("read segment %s: %w", seg.name, err)
		}
		buf = line[:0]
		r, err := ParseRecord(line)
		if err != nil {
			s.problem = err
			return s, nil
		}
		want := seg.first
		if s.count > 0 {
			want = s.lastSeq + 1
		}
		if r.Seq != want {
			s.problem = fmt.Errorf("record seq %d where %d was expected", r.Seq, want)
			return s, nil
		}
		if (s.count > 0 && r.Prev != s.lastHash) || (s.count == 0 && seg.first == 1 && r.Prev != GenesisHash) {
			s.problem = fmt.Errorf("record %d does not link to the record before it", r.Seq)
			return s, nil
		}
		s.count++
		s.lastSeq, s.lastHash, s.good = r.Seq, r.Hash, lr.off
	}
}

// recoverLog finds where the log in dir ends, repairs a torn tail that no
// checkpoint covers, and opens the files for appending. note describes a
// repair, for a drop record.
func recoverLog(dir string, opts *Options) (w *writer, note string, err error) {
	pub, _ := opts.SigningKey.Public().(ed25519.PublicKey)
	cf, err := readCheckpoints(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, "", fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	var last *Checkpoint
	if len(cf.cps) > 0 {
		last = &cf.cps[len(cf.cps)-1]
		if err := last.Verify(pub); err != nil {
			return nil, "", fmt.Errorf("%w: last checkpoint (%s line %d): %w; a new signing key needs a new log directory",
				ErrCorrupt, CheckpointFile, cf.lines, err)
		}
	}
	segs, err := listSegments(dir)
	if err != nil {
		return nil, "", err
	}

	wr := &writer{dir: dir, opts: opts, head: GenesisHash}
	w = wr
	defer func() {
		if err != nil {
			_ = wr.close()
		}
	}()
	if w.cp, err = os.OpenFile(filepath.Join(dir, CheckpointFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600); err != nil {
		return nil, "", fmt.Errorf("open checkpoints: %w", err)
	}
	if cf.torn {
		// A checkpoint whose write was cut short never counted.
		if err := w.cp.Truncate(cf.good); err != nil {
			return nil, "", fmt.Errorf("repair checkpoints: %w", err)
		}
	}
	w.cpSize = cf.good

	if len(segs) == 0 {
		if last != nil && last.Seq > 0 {
			return nil, "", fmt.Errorf("%w: the checkpoints cover %d records but there is no segment file", ErrCorrupt, last.Seq)
		}
		name := segmentName(1)
		if w.seg, err = os.OpenFile(filepath.Join(dir, name), os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o600); err != nil {
			return nil, "", fmt.Errorf("start segment: %w", err)
		}
		w.segName = name
		return w, "", syncDir(dir)
	}

	seg := segs[len(segs)-1]
	scan, err := scanSegment(dir, seg)
	if err != nil {
		return nil, "", err
	}
	lastSeq, lastHash, headSeg := scan.lastSeq, scan.lastHash, seg.name
	if scan.count == 0 {
		switch {
		case len(segs) > 1:
			prev := segs[len(segs)-2]
			ps, err := scanSegment(dir, prev)
			if err != nil {
				return nil, "", err
			}
			if ps.problem != nil {
				return nil, "", fmt.Errorf("%w: segment %s: %w", ErrCorrupt, prev.name, ps.problem)
			}
			if ps.lastSeq+1 != seg.first {
				return nil, "", fmt.Errorf("%w: segment %s ends at seq %d but %s starts at %d", ErrCorrupt, prev.name, ps.lastSeq, seg.name, seg.first)
			}
			lastSeq, lastHash, headSeg = ps.lastSeq, ps.lastHash, prev.name
		case seg.first != 1:
			return nil, "", fmt.Errorf("%w: the only segment %s starts at seq %d", ErrCorrupt, seg.name, seg.first)
		default:
			lastHash = GenesisHash
		}
	}
	if last != nil && last.Seq > lastSeq {
		err := fmt.Errorf("%w: the last checkpoint covers %d records but the log ends at seq %d", ErrCorrupt, last.Seq, lastSeq)
		if scan.problem != nil {
			err = fmt.Errorf("%w (%s: %w)", err, seg.name, scan.problem)
		}
		return nil, "", err
	}
	if last != nil && last.Seq == lastSeq && last.Head != lastHash {
		return nil, "", fmt.Errorf("%w: record %d does not match the last checkpoint", ErrCorrupt, lastSeq)
	}
	if w.seg, err = os.OpenFile(filepath.Join(dir, seg.name), os.O_WRONLY|os.O_APPEND, 0o600); err != nil {
		return nil, "", fmt.Errorf("open segment: %w", err)
	}
	if scan.good != scan.size {
		if err := w.seg.Truncate(scan.good); err != nil {
			return nil, "", fmt.Errorf("repair segment %s: %w", seg.name, err)
		}
		note = fmt.Sprintf("after a crash, cut %d unreadable bytes (%v) from the end of %s; they followed record %d, which no checkpoint covered",
			scan.size-scan.good, scan.problem, seg.name, lastSeq)
	}
	w.segName, w.segSize = seg.name, scan.good
	w.seq, w.head = lastSeq, lastHash
	w.committedSeq, w.committedHead, w.headSegment = lastSeq, lastHash, headSeg
	if last != nil {
		w.sealedSeq = last.Seq
	}
	return w, note, nil
}
