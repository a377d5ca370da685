package audit

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/metric"
)

// Log is an open decision log. Append is safe for concurrent use; one
// writer goroutine does everything else.
type Log struct {
	dir  string
	opts Options

	queue chan Record
	// wake rouses a sleeping writer (see run); sleeping is set while the
	// writer waits for it instead of polling the queue.
	wake         chan struct{}
	sleeping     atomic.Bool
	closed       atomic.Bool
	inflight     atomic.Int64
	pendingDrops atomic.Uint64 // dropped, not yet written as a drop record
	redactor     atomic.Pointer[Redactor]
	st           stats

	w        *writer
	stop     chan struct{}
	done     chan struct{}
	lock     *os.File
	metrics  metric.Registration
	errMu    sync.Mutex
	err      error
	closeMu  sync.Mutex
	closeErr error
}

// Open opens or creates the log in dir and starts its writer. An existing
// log is resumed after its last record: a torn or unreadable tail that no
// checkpoint covers (the trace of a crash) is cut off and noted in a drop
// record; damage inside the checkpointed part is refused with ErrCorrupt.
// Only one Log may have dir open at a time (ErrLocked).
func Open(dir string, opts Options) (*Log, error) {
	l, err := openLog(dir, opts)
	if err != nil {
		return nil, err
	}
	go l.run()
	return l, nil
}

// openLog is Open without starting the writer goroutine.
func openLog(dir string, opts Options) (*Log, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create log directory: %w", err)
	}
	lock, err := lockDir(filepath.Join(dir, lockFile))
	if err != nil {
		return nil, err
	}
	l := &Log{
		dir:   dir,
		opts:  opts,
		queue: make(chan Record, opts.QueueSize),
		wake:  make(chan struct{}, 1),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
		lock:  lock,
	}
	l.redactor.Store(opts.Redactor)
	w, note, err := recoverLog(dir, &l.opts)
	if err != nil {
		_ = unlockDir(lock, filepath.Join(dir, lockFile))
		return nil, err
	}
	l.w = w
	w.log = l
	l.st.seq.Store(w.seq)
	if note != "" {
		l.writeRecord(&Record{Kind: KindDrop, Time: opts.Now(), Event: "recovered", Reason: note})
	}
	// Seal what is there, so the checkpoint file is never empty and the
	// recovered tail is covered.
	if err := l.checkpoint(true); err != nil {
		_ = w.close()
		_ = unlockDir(lock, filepath.Join(dir, lockFile))
		return nil, err
	}
	if l.metrics, err = registerMetrics(opts.MeterProvider, l); err != nil {
		_ = w.close()
		_ = unlockDir(lock, filepath.Join(dir, lockFile))
		return nil, err
	}
	return l, nil
}

// Append hands rec to the writer and returns at once (or, with
// Options.AppendBudget, after at most that long); it never waits for the
// disk. It returns false when the record was not accepted: the queue
// was full, the Kind is invalid or the Log is closed. Dropped records are
// counted, and the writer records their number in a KindDrop record.
//
// Append fills a zero Time with the log's clock. The log takes ownership
// of rec's slices (Args, Policies, Delegation): the caller must not modify
// them afterwards. A nil *Log accepts nothing and does nothing.
func (l *Log) Append(rec Record) bool {
	if l == nil {
		return false
	}
	l.inflight.Add(1)
	defer l.inflight.Add(-1)
	if l.closed.Load() {
		l.st.dropped[dropClosed].Add(1)
		return false
	}
	if !validKind(rec.Kind) {
		l.st.dropped[dropInvalid].Add(1)
		l.pendingDrops.Add(1)
		return false
	}
	if rec.Time.IsZero() {
		rec.Time = l.opts.Now()
	}
	select {
	case l.queue <- rec:
		if l.sleeping.Load() || len(l.queue) >= cap(l.queue)/2 {
			l.nudge()
		}
		return true
	default:
	}
	if b := l.opts.AppendBudget; b > 0 {
		for deadline := time.Now().Add(b); time.Now().Before(deadline); {
			l.nudge()
			runtime.Gosched()
			select {
			case l.queue <- rec:
				return true
			default:
			}
		}
	}
	l.st.dropped[dropQueueFull].Add(1)
	l.pendingDrops.Add(1)
	return false
}

// SetRedactor replaces the redaction rules for records written from now
// on, e.g. when a new bundle revision becomes active.
func (l *Log) SetRedactor(r *Redactor) {
	if r != nil {
		l.redactor.Store(r)
	}
}

// Err returns the last error the writer met (a failed write, sync or
// checkpoint), or nil. The writer keeps going; records lost to a failed
// write are counted as drops.
func (l *Log) Err() error {
	l.errMu.Lock()
	defer l.errMu.Unlock()
	return l.err
}

func (l *Log) setErr(err error) {
	l.st.writeErrors.Add(1)
	l.errMu.Lock()
	l.err = err
	l.errMu.Unlock()
}

// Close stops accepting records, writes everything queued, records any
// drops, syncs, signs a final checkpoint and releases the directory. It
// returns the first error of that final work. Close is idempotent.
func (l *Log) Close() error {
	l.closeMu.Lock()
	defer l.closeMu.Unlock()
	if l.closed.Swap(true) {
		return l.closeErr
	}
	// Appends that saw closed == false finish their send before the writer
	// drains the queue for the last time.
	for l.inflight.Load() > 0 {
		runtime.Gosched()
	}
	close(l.stop)
	<-l.done
	l.closeErr = errors.Join(l.closeErr, l.w.close(), l.metrics.Unregister(), unlockDir(l.lock, filepath.Join(l.dir, lockFile)))
	return l.closeErr
}

// Stats is a snapshot of a Log's counters.
type Stats struct {
	// Written counts records written to segment files, drop records included.
	Written uint64
	// Dropped counts records not accepted or lost to a failed write.
	Dropped uint64
	// QueueDepth is the number of records waiting for the writer.
	QueueDepth int
	// Seq is the sequence number of the last record written.
	Seq uint64
	// SealedSeq is the Seq of the last checkpoint.
	SealedSeq uint64
	// Checkpoints counts checkpoints signed since Open.
	Checkpoints uint64
}

// Stats returns a snapshot of the log's counters.
func (l *Log) Stats() Stats {
	s := Stats{
		QueueDepth:  len(l.queue),
		Seq:         l.st.seq.Load(),
		SealedSeq:   l.st.sealed.Load(),
		Checkpoints: uint64(l.st.checkpoints.Load()), //nolint:gosec // counters are never negative
	}
	for i := range l.st.written {
		s.Written += uint64(l.st.written[i].Load()) //nolint:gosec // counters are never negative
	}
	for i := range l.st.dropped {
		s.Dropped += uint64(l.st.dropped[i].Load()) //nolint:gosec // counters are never negative
	}
	return s
}

// run is the writer goroutine.
func (l *Log) run() {
	defer close(l.done)
	flush := time.NewTicker(l.opts.FlushInterval)
	defer flush.Stop()
	seal := time.NewTicker(l.opts.CheckpointInterval)
	defer seal.Stop()
	// The writer takes the queue in batches, every batchInterval while
	// records arrive, instead of being woken by each Append: under load a
	// wake-up per record costs more CPU than writing the record. After
	// idleBatches empty batches it sleeps until an Append wakes it, so an
	// idle log costs nothing and a lone record is written at once.
	batch := time.NewTicker(batchInterval)
	defer batch.Stop()
	idle := 0
	for {
		select {
		case <-batch.C:
		case <-l.wake:
			if l.sleeping.Swap(false) {
				batch.Reset(batchInterval)
			}
		case <-flush.C:
			l.noteDrops()
			if err := l.flush(); err != nil {
				l.setErr(err)
			}
		case <-seal.C:
			l.noteDrops()
			if err := l.checkpoint(false); err != nil {
				l.setErr(err)
			}
		case <-l.stop:
			l.drain()
			l.noteDrops()
			l.closeErr = l.checkpoint(false)
			return
		}
		if l.drain() > 0 {
			idle = 0
			continue
		}
		if idle++; idle >= idleBatches && !l.sleeping.Load() {
			// Appends that ran before the flag was up sent records the
			// drain below takes; later ones see the flag and wake us.
			l.sleeping.Store(true)
			batch.Stop()
			if l.drain() > 0 {
				l.sleeping.Store(false)
				batch.Reset(batchInterval)
				idle = 0
			}
		}
	}
}

// Writer pacing (see run).
const (
	batchInterval = time.Millisecond
	idleBatches   = 3
)

// nudge wakes the writer without waiting.
func (l *Log) nudge() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// drain writes every queued record and returns how many there were.
func (l *Log) drain() int {
	l.noteDrops()
	n := 0
	for {
		select {
		case rec := <-l.queue:
			l.writeRecord(&rec)
			n++
		default:
			return n
		}
	}
}

// noteDrops writes a drop record for the records dropped since the last
// one.
func (l *Log) noteDrops() {
	n := l.pendingDrops.Swap(0)
	if n == 0 {
		return
	}
	l.writeRecord(&Record{
		Kind:   KindDrop,
		Time:   l.opts.Now(),
		Count:  n,
		Reason: fmt.Sprintf("%d records were lost: the queue was full, the disk failed or a record was invalid", n),
	})
}
