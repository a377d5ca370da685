package audit

import (
	"cmp"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// ErrTampered means that the log fails verification. Verify returns it inside a
// *VerifyError that says where.
var ErrTampered = errors.New("decision log fails verification")

// VerifyError names the first place where a log fails verification.
type VerifyError struct {
	// File is the segment file (or CheckpointFile) where the problem is.
	File string
	// Line is the 1-based line in File, or 0.
	Line int
	// Seq is the sequence number of the first bad record (the number the
	// record at that place should have), or 0 for a checkpoint problem.
	Seq uint64
	// Reason says what is wrong.
	Reason string
	// Err is the underlying error, if any (ErrHashMismatch, ErrMalformed,
	// ErrBadSignature, ErrWrongKey).
	Err error
}

func (e *VerifyError) Error() string {
	where := e.File
	if e.Line > 0 {
		where += fmt.Sprintf(" line %d", e.Line)
	}
	if e.Seq > 0 {
		where += fmt.Sprintf(" (record %d)", e.Seq)
	}
	return where + ": " + e.Reason
}

// Is makes errors.Is(err, ErrTampered) true.
func (e *VerifyError) Is(target error) bool { return target == ErrTampered }

// Unwrap returns the underlying error.
func (e *VerifyError) Unwrap() error { return e.Err }

// Report summarises a verification. When Verify fails, it holds what was
// read up to the problem.
type Report struct {
	// Segments is the number of segment files read.
	Segments int
	// Records is the number of records that verified; LastSeq is the last.
	Records uint64
	LastSeq uint64
	// LastHash is the hash of record LastSeq.
	LastHash string
	// Checkpoints is the number of valid signed checkpoints; SealedSeq is
	// the number of records the last one covers.
	Checkpoints int
	SealedSeq   uint64
	// Unsealed counts records after the last checkpoint: they are chained
	// but not yet signed, so only the chain vouches for them.
	Unsealed uint64
	// KeyID identifies the public key the checkpoints verified under.
	KeyID string
	// DropRecords counts drop records; Dropped sums their counts.
	DropRecords int
	Dropped     uint64
	// FirstTime and LastTime bound the records' times.
	FirstTime, LastTime time.Time
	// Warnings are findings that do not break verification (a record
	// torn by a crash after the last checkpoint, clocks going back).
	Warnings []string
}

// verifier holds the state of one Verify run.
type verifier struct {
	dir  string
	rep  Report
	cps  []Checkpoint
	line []int // line of each checkpoint in CheckpointFile
	next int   // index of the next checkpoint to meet

	// Where the first record after the last matched checkpoint is: when a
	// later checkpoint does not match, the rewrite began there or after.
	sinceFile string
	sinceLine int
	sinceSeq  uint64

	timeBack int
}

// Verify checks the log in dir: every record's hash, the chain across
// segments, the numbering, and every checkpoint's signature under pub and
// its agreement with the chain. It returns a *VerifyError (errors.Is
// ErrTampered) naming the first bad record or checkpoint, or another
// error when the directory cannot be read.
func Verify(dir string, pub ed25519.PublicKey) (Report, error) {
	return VerifyWith(dir, pub, VerifyOptions{})
}

// VerifyOptions adds checks to Verify.
type VerifyOptions struct {
	// Anchors are checkpoints kept outside the log directory, such as the
	// last one shipped over OTLP. Each must verify under the key, agree
	// with checkpoints.jsonl, and be reached by the log, so that cutting
	// the log back together with its checkpoint file is detected.
	Anchors []Checkpoint
}

// VerifyWith is Verify with options.
func VerifyWith(dir string, pub ed25519.PublicKey, opts VerifyOptions) (Report, error) {
	v := &verifier{dir: dir}
	if len(pub) != ed25519.PublicKeySize {
		return v.rep, fmt.Errorf("public key has %d bytes, want %d", len(pub), ed25519.PublicKeySize)
	}
	v.rep.KeyID = KeyID(pub)
	if err := v.checkpoints(pub); err != nil {
		return v.rep, err
	}
	if err := v.anchors(pub, opts.Anchors); err != nil {
		return v.rep, err
	}
	segs, err := listSegments(dir)
	if err != nil {
		return v.rep, err
	}
	v.rep.LastHash = GenesisHash
	v.sinceFile, v.sinceLine, v.sinceSeq = "", 0, 1
	for i, seg := range segs {
		if seg.first != v.rep.LastSeq+1 {
			reason := fmt.Sprintf("segment starts at record %d but the previous record is %d", seg.first, v.rep.LastSeq)
			if seg.first > v.rep.LastSeq+1 {
				reason = fmt.Sprintf("records %d to %d are missing (segment deleted or renamed)", v.rep.LastSeq+1, seg.first-1)
			}
			return v.rep, &VerifyError{File: seg.name, Seq: v.rep.LastSeq + 1, Reason: reason}
		}
		if err := v.segment(seg, i == len(segs)-1); err != nil {
			return v.rep, err
		}
		v.rep.Segments++
	}
	if v.next < len(v.cps) {
		cp, line := v.cps[len(v.cps)-1], v.line[len(v.line)-1]
		file := cp.Segment
		if file == "" {
			file = CheckpointFile
		}
		return v.rep, &VerifyError{File: file, Seq: v.rep.LastSeq + 1, Reason: fmt.Sprintf(
			"the log ends at record %d but the checkpoint %s covers %d records: the tail was truncated",
			v.rep.LastSeq, where(line), cp.Seq)}
	}
	v.rep.Unsealed = v.rep.LastSeq - v.rep.SealedSeq
	if v.timeBack > 0 {
		v.rep.Warnings = append(v.rep.Warnings, fmt.Sprintf("%d records carry an earlier time than the record before them (concurrent decisions or clock steps)", v.timeBack))
	}
	return v.rep, nil
}

// checkpoints reads and checks every checkpoint.
func (v *verifier) checkpoints(pub ed25519.PublicKey) error {
	f, err := os.Open(filepath.Join(v.dir, CheckpointFile))
	if errors.Is(err, fs.ErrNotExist) {
		return &VerifyError{File: CheckpointFile, Reason: "missing: without checkpoints nothing in the log is signed"}
	}
	if err != nil {
		return fmt.Errorf("open checkpoints: %w", err)
	}
	defer func() { _ = f.Close() }()
	lr := newLineReader(f)
	var buf []byte
	for n := 1; ; n++ {
		line, torn, err := lr.next(buf)
		if errors.Is(err, io.EOF) {
			if torn {
				v.rep.Warnings = append(v.rep.Warnings, fmt.Sprintf("%s line %d is incomplete (a crash while writing it); ignored", CheckpointFile, n))
			}
			break
		}
		if errors.Is(err, ErrMalformed) {
			return &VerifyError{File: CheckpointFile, Line: n, Reason: err.Error(), Err: err}
		}
		if err != nil {
			return fmt.Errorf("read checkpoints: %w", err)
		}
		buf = line[:0]
		cp, err := ParseCheckpoint(line)
		if err != nil {
			return &VerifyError{File: CheckpointFile, Line: n, Reason: err.Error(), Err: err}
		}
		if err := cp.Verify(pub); err != nil {
			return &VerifyError{File: CheckpointFile, Line: n, Reason: fmt.Sprintf("checkpoint for record %d: %v: forged or edited", cp.Seq, err), Err: err}
		}
		if k := len(v.cps); k > 0 {
			prev := v.cps[k-1]
			if cp.Seq < prev.Seq || (cp.Seq == prev.Seq && cp.Head != prev.Head) {
				return &VerifyError{File: CheckpointFile, Line: n, Reason: fmt.Sprintf(
					"checkpoint for record %d follows the one for record %d on line %d: checkpoints were reordered or the log was rewritten", cp.Seq, prev.Seq, v.line[k-1])}
			}
			if cp.Seq == prev.Seq {
				continue // a restart re-seals the same head
			}
		}
		v.cps = append(v.cps, cp)
		v.line = append(v.line, n)
	}
	if len(v.cps) == 0 {
		return &VerifyError{File: CheckpointFile, Reason: "no checkpoint: nothing in the log is signed"}
	}
	// A genesis checkpoint covers no record.
	for v.next < len(v.cps) && v.cps[v.next].Seq == 0 {
		v.rep.Checkpoints++
		v.next++
	}
	return nil
}

// where names a checkpoint by its line in CheckpointFile; 0 is an anchor.
func where(line int) string {
	if line == 0 {
		return "given as an anchor"
	}
	return fmt.Sprintf("on %s line %d", CheckpointFile, line)
}

// anchors checks external checkpoints and merges them into v.cps.
func (v *verifier) anchors(pub ed25519.PublicKey, anchors []Checkpoint) error {
	for _, a := range anchors {
		if err := a.Verify(pub); err != nil {
			return &VerifyError{File: "anchor", Seq: a.Seq, Reason: fmt.Sprintf("anchor checkpoint for record %d: %v", a.Seq, err), Err: err}
		}
		i, found := slices.BinarySearchFunc(v.cps, a.Seq, func(c Checkpoint, seq uint64) int { return cmp.Compare(c.Seq, seq) })
		if found {
			if v.cps[i].Head != a.Head || v.cps[i].Segment != a.Segment {
				return &VerifyError{File: CheckpointFile, Line: v.line[i], Reason: fmt.Sprintf(
					"the checkpoint for record %d differs from the anchor: the log was rewritten and re-sealed", a.Seq)}
			}
			continue
		}
		if a.Seq == 0 {
			continue
		}
		v.cps = slices.Insert(v.cps, i, a)
		v.line = slices.Insert(v.line, i, 0)
	}
	return nil
}

// segment checks the records of one segment.
func (v *verifier) segment(seg segment, last bool) error {
	f, err := os.Open(filepath.Join(v.dir, seg.name))
	if err != nil {
		return fmt.Errorf("open segment: %w", err)
	}
	defer func() { _ = f.Close() }()
	lr := newLineReader(f)
	var buf []byte
	for n := 1; ; n++ {
		want := v.rep.LastSeq + 1
		bad := func(reason string, err error) error {
			return &VerifyError{File: seg.name, Line: n, Seq: want, Reason: reason, Err: err}
		}
		line, torn, err := lr.next(buf)
		if errors.Is(err, io.EOF) {
			if torn {
				if !last || v.next < len(v.cps) {
					return bad("incomplete line inside the log", ErrMalformed)
				}
				v.rep.Warnings = append(v.rep.Warnings, fmt.Sprintf(
					"%s line %d is incomplete (a crash while writing it, after the last checkpoint); Open cuts it off", seg.name, n))
			}
			return nil
		}
		if errors.Is(err, ErrMalformed) {
			return bad(err.Error(), err)
		}
		if err != nil {
			return fmt.Errorf("read segment %s: %w", seg.name, err)
		}
		buf = line[:0]
		r, err := ParseRecord(line)
		switch {
		case errors.Is(err, ErrHashMismatch):
			return bad("the record's hash does not match its content: the record was edited", err)
		case err != nil:
			return bad(fmt.Sprintf("not a valid record: %v", err), err)
		case r.Seq > want:
			if r.Seq == want+1 {
				return bad(fmt.Sprintf("record %d is missing (found %d): deleted, or records were reordered", want, r.Seq), nil)
			}
			return bad(fmt.Sprintf("records %d to %d are missing (found %d): deleted, or records were reordered", want, r.Seq-1, r.Seq), nil)
		case r.Seq < want:
			return bad(fmt.Sprintf("found record %d where record %d belongs: records were reordered or duplicated", r.Seq, want), nil)
		case r.Prev != v.rep.LastHash:
			return bad(fmt.Sprintf("the record does not link to record %d (prev hash differs): record %d or this one was altered, or one was inserted", want-1, want-1), nil)
		}
		if v.sinceFile == "" {
			v.sinceFile, v.sinceLine, v.sinceSeq = seg.name, n, r.Seq
		}
		if v.next < len(v.cps) && v.cps[v.next].Seq == r.Seq {
			cp := v.cps[v.next]
			if cp.Head != r.Hash || cp.Segment != seg.name {
				what := "its hash differs from the signed head"
				if cp.Head == r.Hash {
					what = fmt.Sprintf("the checkpoint places it in %s", cp.Segment)
				}
				return &VerifyError{File: v.sinceFile, Line: v.sinceLine, Seq: v.sinceSeq, Reason: fmt.Sprintf(
					"record %d does not match the checkpoint %s (%s): the chain from record %d on was rewritten (records inserted, deleted or edited and rehashed)",
					r.Seq, where(v.line[v.next]), what, v.sinceSeq)}
			}
			v.rep.Checkpoints++
			v.rep.SealedSeq = r.Seq
			v.next++
			v.sinceFile = ""
		}
		if r.Kind == KindDrop {
			v.rep.DropRecords++
			v.rep.Dropped += r.Count
		}
		if v.rep.Records == 0 {
			v.rep.FirstTime = r.Time
		} else if r.Time.Before(v.rep.LastTime) {
			v.timeBack++
		}
		if v.rep.Records == 0 || r.Time.After(v.rep.LastTime) {
			v.rep.LastTime = r.Time
		}
		v.rep.Records++
		v.rep.LastSeq, v.rep.LastHash = r.Seq, r.Hash
	}
}
