package audit

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"unicode/utf8"
)

// flushBytes makes the writer flush before the buffer grows past it.
const flushBytes = 256 << 10

// Limits on one record, so that a line stays far below MaxLineBytes.
const (
	maxStringBytes = 4 << 10
	maxListLen     = 64
)

// writer is the state of the writer goroutine (and of Open and Close,
// which run when it does not).
type writer struct {
	log  *Log
	dir  string
	opts *Options

	seg     *os.File
	segName string
	segSize int64 // bytes in the segment file

	cp     *os.File
	cpSize int64

	buf     []byte       // encoded records not yet written
	pending []pendingRec // the records in buf
	parser  canonParser  // scratch for redacting Args

	seq           uint64 // last record buffered
	head          string // its hash
	committedSeq  uint64 // last record written to the file
	committedHead string
	headSegment   string // the segment holding record committedSeq
	sealedSeq     uint64 // last checkpoint
	unsynced      bool   // written since the last fsync
}

type pendingRec struct {
	rec Record
	end int // the record's line is buf[previous end:end], newline included
}

// writeRecord prepares, chains and buffers one record.
func (l *Log) writeRecord(rec *Record) {
	w := l.w
	l.prepare(rec)
	if w.segSize+int64(len(w.buf)) >= l.opts.SegmentBytes {
		if err := l.rotate(); err != nil {
			l.setErr(err)
		}
	}
	rec.Seq, rec.Prev = w.seq+1, w.head
	w.buf = sealRecord(w.buf, rec)
	w.seq, w.head = rec.Seq, rec.Hash
	w.pending = append(w.pending, pendingRec{rec: *rec, end: len(w.buf)})
	if len(w.buf) >= flushBytes {
		if err := l.flush(); err != nil {
			l.setErr(err)
		}
	}
	if w.seq-w.sealedSeq >= uint64(l.opts.CheckpointEvery) { //nolint:gosec // validated non-negative
		if err := l.checkpoint(false); err != nil {
			l.setErr(err)
		}
	}
}

// prepare fills the fields the log owns and enforces redaction and size
// limits. It never modifies the caller's slices.
func (l *Log) prepare(r *Record) {
	r.Version = FormatVersion
	r.Hash = ""
	for _, s := range []*string{&r.Agent, &r.Instance, &r.Credential, &r.OnBehalfOf, &r.Tool, &r.Action,
		&r.Namespace, &r.Object, &r.Decision, &r.Reason, &r.Revision, &r.DecisionID, &r.GrantID, &r.Event,
		&r.TraceID, &r.SpanID, &r.SessionID, &r.TaskID} {
		*s = limitString(scrubCredentials(*s))
	}
	r.Policies = cleanList(r.Policies)
	r.Delegation = cleanList(r.Delegation)
	if len(r.Args) != 0 {
		args, err := l.w.parser.run(r.Args, l.redactor.Load())
		switch {
		case err != nil:
			r.Args = appendString(nil, "[args removed: not valid JSON]")
		case len(args) > l.opts.MaxArgsBytes:
			r.Args = appendString(nil, "[args removed: "+strconv.Itoa(len(args))+" bytes, more than the limit of "+strconv.Itoa(l.opts.MaxArgsBytes)+"]")
		default:
			r.Args = args
		}
	}
}

// limitString cuts s to maxStringBytes on a rune boundary.
func limitString(s string) string {
	if len(s) <= maxStringBytes {
		return s
	}
	cut := maxStringBytes
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…[truncated]"
}

// cleanList applies the string rules to a list, copying it only if
// something changes.
func cleanList(v []string) []string {
	var out []string
	if len(v) > maxListLen {
		out = append(make([]string, 0, maxListLen+1), v[:maxListLen]...)
		out = append(out, "…["+strconv.Itoa(len(v)-maxListLen)+" more]")
	}
	for i, s := range v[:min(len(v), maxListLen)] {
		c := limitString(scrubCredentials(s))
		if c != s {
			if out == nil {
				out = append([]string(nil), v...)
			}
			out[i] = c
		}
	}
	if out == nil {
		return v
	}
	return out
}

// flush writes the buffered records to the segment file. After a failed
// write the file is cut back to its last good size and the buffered
// records are counted as dropped, so the chain on disk stays intact.
func (l *Log) flush() error {
	w := l.w
	if len(w.buf) == 0 {
		return nil
	}
	n, err := w.seg.Write(w.buf)
	if err != nil {
		terr := w.seg.Truncate(w.segSize)
		var lost, records uint64
		for _, p := range w.pending {
			if p.rec.Kind == KindDrop {
				lost += p.rec.Count
			} else {
				lost++
				records++
			}
		}
		l.st.dropped[dropWriteError].Add(int64(records)) //nolint:gosec // small count
		l.pendingDrops.Add(lost)
		w.seq, w.head = w.committedSeq, w.committedHead
		w.buf, w.pending = w.buf[:0], w.pending[:0]
		if terr != nil {
			return fmt.Errorf("write %s: %w (and cutting it back failed: %w)", w.segName, err, terr)
		}
		return fmt.Errorf("write %s: %w", w.segName, err)
	}
	w.segSize += int64(n)
	w.unsynced = true
	w.committedSeq, w.committedHead, w.headSegment = w.seq, w.head, w.segName
	l.st.seq.Store(w.seq)
	l.st.bytes.Add(int64(n))
	start := 0
	for i := range w.pending {
		p := &w.pending[i]
		l.st.written[kindIndex(p.rec.Kind)].Add(1)
		for _, s := range l.opts.Sinks {
			s.Emit(Entry{Record: &p.rec, Line: w.buf[start : p.end-1]})
		}
		start = p.end
		p.rec = Record{} // drop references
	}
	w.buf, w.pending = w.buf[:0], w.pending[:0]
	if l.opts.SyncEveryFlush {
		return l.sync()
	}
	return nil
}

func (l *Log) sync() error {
	w := l.w
	if !w.unsynced {
		return nil
	}
	if err := w.seg.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", w.segName, err)
	}
	w.unsynced = false
	return nil
}

// checkpoint flushes and syncs the records, then signs and appends a
// checkpoint for them, unless the last checkpoint covers them already and
// force is false.
func (l *Log) checkpoint(force bool) error {
	w := l.w
	if err := l.flush(); err != nil {
		return err
	}
	if w.committedSeq == w.sealedSeq && !force {
		return nil
	}
	if err := l.sync(); err != nil {
		return err
	}
	cp := Checkpoint{Seq: w.committedSeq, Head: w.committedHead, Time: l.opts.Now()}
	if cp.Seq == 0 {
		cp.Head = GenesisHash
	} else {
		cp.Segment = w.headSegment
	}
	line := signCheckpoint(&cp, l.opts.SigningKey)
	n, err := w.cp.Write(line)
	if err != nil {
		if terr := w.cp.Truncate(w.cpSize); terr != nil {
			err = errors.Join(err, terr)
		}
		return fmt.Errorf("write %s: %w", CheckpointFile, err)
	}
	w.cpSize += int64(n)
	if err := w.cp.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", CheckpointFile, err)
	}
	w.sealedSeq = cp.Seq
	l.st.sealed.Store(cp.Seq)
	l.st.checkpoints.Add(1)
	for _, s := range l.opts.Sinks {
		s.Emit(Entry{Checkpoint: &cp, Line: line[:len(line)-1]})
	}
	return nil
}

// rotate seals the current segment and starts the next one.
func (l *Log) rotate() error {
	w := l.w
	if err := l.checkpoint(false); err != nil {
		return err
	}
	name := segmentName(w.seq + 1)
	f, err := os.OpenFile(filepath.Join(w.dir, name), os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("start segment: %w", err)
	}
	if err := syncDir(w.dir); err != nil {
		_ = f.Close()
		_ = os.Remove(filepath.Join(w.dir, name))
		return err
	}
	old := w.seg
	w.seg, w.segName, w.segSize, w.unsynced = f, name, 0, false
	if err := old.Close(); err != nil {
		return fmt.Errorf("close segment: %w", err)
	}
	return nil
}

// close closes the files; the final checkpoint is written before.
func (w *writer) close() error {
	var errs []error
	if w.seg != nil {
		errs = append(errs, w.seg.Close())
	}
	if w.cp != nil {
		errs = append(errs, w.cp.Close())
	}
	return errors.Join(errs...)
}

// syncDir makes a new directory entry durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync log directory: %w", err)
	}
	defer func() { _ = d.Close() }()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync log directory: %w", err)
	}
	return nil
}
