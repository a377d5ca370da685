package audit

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
)

// Options configures Open. Zero fields take the defaults given.
type Options struct {
	// SigningKey signs checkpoints. Required.
	SigningKey ed25519.PrivateKey
	// SegmentBytes is the size at which the writer starts a new segment
	// file. Default 64 MiB; at least 4 KiB.
	SegmentBytes int64
	// CheckpointEvery signs a checkpoint after this many records.
	// Default 10000 (each checkpoint costs two fsyncs and a signature).
	CheckpointEvery int
	// CheckpointInterval signs a checkpoint at least this often while
	// records arrive; it bounds how long a record stays unsealed.
	// Default 5s.
	CheckpointInterval time.Duration
	// FlushInterval is the longest a written record waits in the writer's
	// buffer before it reaches the segment file (the page cache).
	// Default 100ms.
	FlushInterval time.Duration
	// SyncEveryFlush fsyncs the segment after every flush instead of only
	// before each checkpoint, at rotation and at Close. Default false.
	SyncEveryFlush bool
	// QueueSize is the number of records Append can hand over before the
	// writer takes them; beyond it Append drops and counts. Default 8192.
	QueueSize int
	// AppendBudget lets Append wait up to this long for room in a full
	// queue before it drops the record: decision latency traded for
	// completeness under bursts. Append yields the processor while it
	// waits; it never waits on the disk itself. Default 0: never wait.
	AppendBudget time.Duration
	// Redactor redacts Args. Default: NewRedactor(RedactionRules{}, nil),
	// the built-in rules. Log.SetRedactor replaces it at run time.
	Redactor *Redactor
	// MaxArgsBytes bounds the canonical, redacted Args of one record;
	// larger Args are replaced by a note of their size. Default 16 KiB.
	MaxArgsBytes int
	// Sinks receive every record and checkpoint once it is written to the
	// segment or checkpoint file, in order, on the writer goroutine.
	Sinks []Sink
	// MeterProvider receives the agentguard.audit.* metrics. Default: none.
	MeterProvider metric.MeterProvider
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

func (o *Options) setDefaults() error {
	if len(o.SigningKey) != ed25519.PrivateKeySize {
		return fmt.Errorf("options: SigningKey must be an Ed25519 private key (%d bytes), got %d bytes", ed25519.PrivateKeySize, len(o.SigningKey))
	}
	if o.SegmentBytes == 0 {
		o.SegmentBytes = 64 << 20
	}
	if o.SegmentBytes < 4<<10 {
		return errors.New("options: SegmentBytes must be at least 4 KiB")
	}
	if o.CheckpointEvery == 0 {
		o.CheckpointEvery = 10000
	}
	if o.CheckpointInterval == 0 {
		o.CheckpointInterval = 5 * time.Second
	}
	if o.FlushInterval == 0 {
		o.FlushInterval = 100 * time.Millisecond
	}
	if o.QueueSize == 0 {
		o.QueueSize = 8192
	}
	if o.MaxArgsBytes == 0 {
		o.MaxArgsBytes = 16 << 10
	}
	if o.CheckpointEvery < 0 || o.CheckpointInterval < 0 || o.FlushInterval < 0 || o.QueueSize < 0 || o.MaxArgsBytes < 0 || o.AppendBudget < 0 {
		return errors.New("options: CheckpointEvery, CheckpointInterval, FlushInterval, QueueSize, MaxArgsBytes and AppendBudget must not be negative")
	}
	if o.Redactor == nil {
		r, err := NewRedactor(RedactionRules{}, nil)
		if err != nil {
			return err
		}
		o.Redactor = r
	}
	if o.MeterProvider == nil {
		o.MeterProvider = noop.NewMeterProvider()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return nil
}

// Sink receives records and checkpoints after they are written, for
// shipping them elsewhere (see NewOTelSink). Emit runs on the writer
// goroutine: it must not block.
type Sink interface {
	Emit(e Entry)
}

// SinkFunc adapts a function to Sink.
type SinkFunc func(Entry)

// Emit calls f(e).
func (f SinkFunc) Emit(e Entry) { f(e) }

// Entry is a record or a checkpoint as written, with its line (canonical
// JSON without the newline). Exactly one of Record and Checkpoint is set.
// The pointers and Line are only valid during Emit.
type Entry struct {
	Record     *Record
	Checkpoint *Checkpoint
	Line       []byte
}
