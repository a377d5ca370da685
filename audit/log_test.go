package audit

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// decision returns a PDP decision record for agent i.
func decision(i int) Record {
	d := DecisionAllow
	if i%3 == 0 {
		d = DecisionDeny
	}
	return Record{
		Kind: KindPDPDecision, Agent: fmt.Sprintf("team-a/agent-%d", i%4), Tool: "web.search", Action: "call",
		Namespace: "team-a", Object: "Tool/web.search", Decision: d, Reason: "policy matched",
		Policies: []string{"permit-search"}, Revision: "rev-1", DecisionID: fmt.Sprintf("d-%d", i),
		Args: json.RawMessage(fmt.Sprintf(`{"q":"query %d","api_token":"s3cr3t-%d"}`, i, i)),
	}
}

// readAll reads every record of dir with a Cursor.
func readAll(t *testing.T, dir string) []Record {
	t.Helper()
	c, err := OpenCursor(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	var out []Record
	for {
		r, _, err := c.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
}

func TestLogWriteRotateReopenVerify(t *testing.T) {
	t.Parallel()
	pub, priv := testKey(t)
	dir := t.TempDir()
	opts := Options{SigningKey: priv, SegmentBytes: 4 << 10, CheckpointEvery: 25, FlushInterval: time.Millisecond}
	l, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	const n = 200
	for i := range n {
		for !l.Append(decision(i)) {
			time.Sleep(time.Millisecond) // the queue is large; this never loops in practice
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if l.Append(decision(0)) {
		t.Error("Append after Close accepted a record")
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	rep, err := Verify(dir, pub)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if rep.Records != n || rep.LastSeq != n || rep.Unsealed != 0 || rep.SealedSeq != n || rep.Dropped != 0 {
		t.Errorf("report %+v", rep)
	}
	if rep.Segments < 3 {
		t.Errorf("Segments = %d, want rotation into several", rep.Segments)
	}
	if rep.Checkpoints < n/25 {
		t.Errorf("Checkpoints = %d, want at least %d", rep.Checkpoints, n/25)
	}
	if st := l.Stats(); st.Written != n || st.Seq != n || st.SealedSeq != n {
		t.Errorf("Stats %+v", st)
	}

	// Resume: the chain continues.
	l, err = Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	l.Append(decision(n))
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	rep, err = Verify(dir, pub)
	if err != nil {
		t.Fatalf("Verify after resume: %v", err)
	}
	if rep.Records != n+1 {
		t.Errorf("Records after resume = %d", rep.Records)
	}

	recs := readAll(t, dir)
	if len(recs) != n+1 {
		t.Fatalf("read %d records", len(recs))
	}
	for i, r := range recs {
		want := decision(i)
		if r.Seq != uint64(i+1) || r.Agent != want.Agent || r.DecisionID != want.DecisionID || r.Decision != want.Decision {
			t.Fatalf("record %d = %+v", i, r)
		}
		wantArgs := fmt.Sprintf(`{"api_token":"[REDACTED]","q":"query %d"}`, i)
		if string(r.Args) != wantArgs {
			t.Fatalf("record %d args %s, want %s", i, r.Args, wantArgs)
		}
		if r.Time.IsZero() || r.Version != FormatVersion {
			t.Fatalf("record %d: time %v version %d", i, r.Time, r.Version)
		}
	}
}

func TestOpenRefuses(t *testing.T) {
	t.Parallel()
	_, priv := testKey(t)
	_, other := testKey(t)
	dir := t.TempDir()
	if _, err := Open(dir, Options{}); err == nil {
		t.Error("Open without a key succeeded")
	}
	if _, err := Open(dir, Options{SigningKey: priv[:10]}); err == nil {
		t.Error("Open with a short key succeeded")
	}
	if _, err := Open(dir, Options{SigningKey: priv, SegmentBytes: 100}); err == nil {
		t.Error("Open with a 100-byte segment succeeded")
	}
	if _, err := Open(dir, Options{SigningKey: priv, Redactor: nil, QueueSize: -1}); err == nil {
		t.Error("Open with a negative queue succeeded")
	}
	l, err := Open(dir, Options{SigningKey: priv})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, Options{SigningKey: priv}); !errors.Is(err, ErrLocked) {
		t.Errorf("second Open = %v, want ErrLocked", err)
	}
	l.Append(decision(1))
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, Options{SigningKey: other}); !errors.Is(err, ErrCorrupt) || !errors.Is(err, ErrWrongKey) {
		t.Errorf("Open with another key = %v, want ErrCorrupt and ErrWrongKey", err)
	}
}

func TestNilLogAppend(t *testing.T) {
	t.Parallel()
	var l *Log
	if l.Append(decision(1)) {
		t.Error("nil Log accepted a record")
	}
}

// blockingSink blocks the writer on its first record until released.
type blockingSink struct {
	once    sync.Once
	blocked chan struct{}
	release chan struct{}
}

func (s *blockingSink) Emit(e Entry) {
	if e.Record == nil {
		return
	}
	s.once.Do(func() {
		close(s.blocked)
		<-s.release
	})
}

func TestDropsAreCountedAndRecorded(t *testing.T) {
	t.Parallel()
	pub, priv := testKey(t)
	dir := t.TempDir()
	sink := &blockingSink{blocked: make(chan struct{}), release: make(chan struct{})}
	l, err := Open(dir, Options{SigningKey: priv, QueueSize: 4, FlushInterval: time.Millisecond, Sinks: []Sink{sink}})
	if err != nil {
		t.Fatal(err)
	}
	if !l.Append(decision(0)) {
		t.Fatal("first Append refused")
	}
	<-sink.blocked // the writer is stuck in the sink now
	accepted, refused := 1, 0
	for i := 1; i <= 20; i++ {
		if l.Append(decision(i)) {
			accepted++
		} else {
			refused++
		}
	}
	if accepted != 5 || refused != 16 {
		t.Errorf("accepted %d, refused %d; want 5 and 16 with a queue of 4", accepted, refused)
	}
	if l.Append(Record{Kind: "Bad Kind"}) {
		t.Error("a record with an invalid kind was accepted")
	}
	refused++
	if st := l.Stats(); st.Dropped != uint64(refused) || st.QueueDepth != 4 {
		t.Errorf("Stats %+v, want %d dropped and a full queue", st, refused)
	}
	close(sink.release)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	rep, err := Verify(dir, pub)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Dropped != uint64(refused) || rep.DropRecords < 1 || rep.Records != uint64(accepted+rep.DropRecords) {
		t.Errorf("report %+v; want %d dropped in drop records and %d records besides", rep, refused, accepted)
	}
	var drops uint64
	for _, r := range readAll(t, dir) {
		if r.Kind == KindDrop {
			drops += r.Count
			if r.Reason == "" {
				t.Error("drop record without a reason")
			}
		}
	}
	if drops != uint64(refused) {
		t.Errorf("drop records count %d, want %d", drops, refused)
	}
}

// A failed write cuts the segment back, counts the lost records and records
// them once writing works again; the chain stays intact.
func TestWriteErrorRollsBack(t *testing.T) {
	t.Parallel()
	pub, priv := testKey(t)
	dir := t.TempDir()
	l, err := openLog(dir, Options{SigningKey: priv})
	if err != nil {
		t.Fatal(err)
	}
	r := decision(1)
	l.writeRecord(&r)
	if err := l.flush(); err != nil {
		t.Fatal(err)
	}
	good := l.w.seg
	ro, err := os.Open(filepath.Join(dir, l.w.segName)) // read-only: writes fail
	if err != nil {
		t.Fatal(err)
	}
	l.w.seg = ro
	for i := 2; i <= 4; i++ {
		r := decision(i)
		l.writeRecord(&r)
	}
	if err := l.flush(); err == nil {
		t.Fatal("flush to a read-only file succeeded")
	}
	if l.w.seq != 1 || l.pendingDrops.Load() != 3 {
		t.Errorf("after the failed write: seq %d, pending drops %d; want 1 and 3", l.w.seq, l.pendingDrops.Load())
	}
	// The drop record itself fails too: its count must carry over, not grow.
	l.noteDrops()
	if err := l.flush(); err == nil {
		t.Fatal("flush to a read-only file succeeded")
	}
	if l.pendingDrops.Load() != 3 {
		t.Errorf("pending drops %d after a failed drop record, want 3", l.pendingDrops.Load())
	}
	l.w.seg = good
	_ = ro.Close()
	l.noteDrops()
	r = decision(5)
	l.writeRecord(&r)
	if err := l.checkpoint(false); err != nil {
		t.Fatal(err)
	}
	if err := l.w.close(); err != nil {
		t.Fatal(err)
	}
	if err := unlockDir(l.lock, filepath.Join(dir, lockFile)); err != nil {
		t.Fatal(err)
	}
	rep, err := Verify(dir, pub)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Records != 3 || rep.Dropped != 3 || rep.DropRecords != 1 {
		t.Errorf("report %+v, want 3 records (decision, drop of 3, decision)", rep)
	}
	if got := l.st.dropped[dropWriteError].Load(); got != 3 {
		t.Errorf("write_error drops = %d, want 3", got)
	}
}

// crash leaves a log as a killed process would: records written after the
// last checkpoint, no final checkpoint.
func crash(t *testing.T, dir string, opts Options, records int) {
	t.Helper()
	l, err := openLog(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	for i := range records {
		r := decision(i)
		l.writeRecord(&r)
	}
	if err := l.flush(); err != nil {
		t.Fatal(err)
	}
	if err := l.w.close(); err != nil {
		t.Fatal(err)
	}
	if err := unlockDir(l.lock, filepath.Join(dir, lockFile)); err != nil {
		t.Fatal(err)
	}
}

func appendFile(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestRecoverTornTail(t *testing.T) {
	t.Parallel()
	pub, priv := testKey(t)
	dir := t.TempDir()
	opts := Options{SigningKey: priv, CheckpointEvery: 1000}
	crash(t, dir, opts, 5)
	seg := filepath.Join(dir, segmentName(1))
	appendFile(t, seg, `{"action":"call","agent":"half-writ`) // torn line
	appendFile(t, filepath.Join(dir, CheckpointFile), `{"head":"00`)

	rep, err := Verify(dir, pub)
	if err != nil {
		t.Fatalf("Verify of a crashed log: %v", err)
	}
	if rep.Unsealed != 5 || len(rep.Warnings) != 2 {
		t.Errorf("report %+v, want 5 unsealed records and two warnings", rep)
	}

	l, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	l.Append(decision(99))
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	rep, err = Verify(dir, pub)
	if err != nil {
		t.Fatalf("Verify after recovery: %v", err)
	}
	// 5 records, the drop record that notes the repair, the new record.
	if rep.Records != 7 || rep.DropRecords != 1 || rep.Unsealed != 0 || len(rep.Warnings) != 0 {
		t.Errorf("report %+v", rep)
	}
	recs := readAll(t, dir)
	if recs[5].Kind != KindDrop || recs[5].Event != "recovered" || recs[6].DecisionID != "d-99" {
		t.Errorf("records after recovery: %+v, %+v", recs[5], recs[6])
	}
}

// Damage inside the checkpointed part is not a crash: Open refuses.
func TestOpenRefusesDamageInSealedPart(t *testing.T) {
	t.Parallel()
	_, priv := testKey(t)
	opts := Options{SigningKey: priv, CheckpointEvery: 2}
	for name, damage := range map[string]func(t *testing.T, dir string){
		"edited": func(t *testing.T, dir string) {
			editLines(t, dir, func(ls []segLines) {
				ls[0].lines[1] = replaceOnce(ls[0].lines[1], `"decision_id":"d-1"`, `"decision_id":"d-X"`)
			})
		},
		"truncated": func(t *testing.T, dir string) {
			editLines(t, dir, func(ls []segLines) { ls[0].lines = ls[0].lines[:2] })
		},
		"segment removed": func(t *testing.T, dir string) {
			if err := os.Remove(filepath.Join(dir, segmentName(1))); err != nil {
				t.Fatal(err)
			}
		},
		"checkpoint garbled": func(t *testing.T, dir string) {
			appendFile(t, filepath.Join(dir, CheckpointFile), "garbage\n")
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			l, err := Open(dir, opts)
			if err != nil {
				t.Fatal(err)
			}
			for i := range 4 {
				l.Append(decision(i))
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			damage(t, dir)
			if l, err := Open(dir, opts); !errors.Is(err, ErrCorrupt) {
				if err == nil {
					_ = l.Close()
				}
				t.Errorf("Open = %v, want ErrCorrupt", err)
			}
		})
	}
}

// A crash right after a rotation leaves an empty last segment: Open
// continues from the previous one and the log verifies.
func TestRecoverEmptyLastSegment(t *testing.T) {
	t.Parallel()
	pub, priv := testKey(t)
	dir := t.TempDir()
	opts := Options{SigningKey: priv}
	l, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		l.Append(decision(i))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, segmentName(4)), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(dir, pub); err != nil {
		t.Fatalf("Verify with an empty last segment: %v", err)
	}
	l, err = Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	l.Append(decision(3))
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	rep, err := Verify(dir, pub)
	if err != nil || rep.Records != 4 || rep.Segments != 2 {
		t.Fatalf("after resuming: %+v, %v", rep, err)
	}
	// An empty segment whose name does not follow is damage.
	if err := os.WriteFile(filepath.Join(dir, segmentName(9)), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, opts); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Open with a gap before an empty segment = %v, want ErrCorrupt", err)
	}
}

// Many goroutines append while the log is closed under them: no panic, no
// lost accounting, and the result verifies.
func TestConcurrentAppendAndClose(t *testing.T) {
	t.Parallel()
	pub, priv := testKey(t)
	dir := t.TempDir()
	l, err := Open(dir, Options{SigningKey: priv, QueueSize: 64, SegmentBytes: 8 << 10, CheckpointEvery: 50})
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg       sync.WaitGroup
		accepted sync.Map
	)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := 0
			for i := range 2000 {
				if l.Append(decision(g*10000 + i)) {
					n++
				}
			}
			accepted.Store(g, n)
		}()
	}
	time.Sleep(5 * time.Millisecond)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	total := 0
	accepted.Range(func(_, v any) bool { total += v.(int); return true })
	rep, err := Verify(dir, pub)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Records != uint64(total+rep.DropRecords) {
		t.Errorf("%d records verified, %d accepted + %d drop records", rep.Records, total, rep.DropRecords)
	}
	st := l.Stats()
	if uint64(total)+st.Dropped != 8*2000 {
		t.Errorf("accepted %d + dropped %d != %d appended", total, st.Dropped, 8*2000)
	}
}

// The interval checkpoint seals records without Close.
func TestCheckpointInterval(t *testing.T) {
	t.Parallel()
	pub, priv := testKey(t)
	dir := t.TempDir()
	l, err := Open(dir, Options{SigningKey: priv, FlushInterval: time.Millisecond, CheckpointInterval: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	for i := range 3 {
		l.Append(decision(i))
	}
	for deadline := time.Now().Add(10 * time.Second); l.Stats().SealedSeq < 3; {
		if time.Now().After(deadline) {
			t.Fatalf("not sealed: %+v", l.Stats())
		}
		time.Sleep(time.Millisecond)
	}
	// The directory verifies while the log is open.
	rep, err := Verify(dir, pub)
	if err != nil || rep.SealedSeq != 3 || rep.Unsealed != 0 {
		t.Errorf("live verify: %+v, %v", rep, err)
	}
}

// With an AppendBudget, Append waits for room instead of dropping, up to
// the budget.
func TestAppendBudget(t *testing.T) {
	t.Parallel()
	_, priv := testKey(t)
	sink := &blockingSink{blocked: make(chan struct{}), release: make(chan struct{})}
	l, err := Open(t.TempDir(), Options{SigningKey: priv, QueueSize: 1, FlushInterval: time.Millisecond,
		AppendBudget: 20 * time.Millisecond, Sinks: []Sink{sink}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	l.Append(decision(0))
	<-sink.blocked
	if !l.Append(decision(1)) { // fills the queue
		t.Fatal("Append into an empty queue refused")
	}
	start := time.Now()
	if l.Append(decision(2)) {
		t.Fatal("Append into a full queue with a stuck writer succeeded")
	}
	if d := time.Since(start); d < 20*time.Millisecond {
		t.Errorf("Append gave up after %v, before its 20ms budget", d)
	}
	go func() {
		time.Sleep(5 * time.Millisecond)
		close(sink.release)
	}()
	if !l.Append(decision(3)) {
		t.Error("Append did not get room that appeared within its budget")
	}
}
