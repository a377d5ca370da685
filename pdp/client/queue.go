package client

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
)

// PathFallbackRecords is where the client sends queued fallback records.
const PathFallbackRecords = "/access/v1/fallback-records"

// RecordBatch is the body sent to PathFallbackRecords.
type RecordBatch struct {
	Records []Record `json:"records"`
	// Dropped counts records lost to a full queue since the last batch.
	Dropped int `json:"dropped,omitempty"`
}

// queue holds fallback records until the PDP is back: bounded in memory
// and, with a file, kept across restarts.
type queue struct {
	mu       sync.Mutex
	max      int
	recs     []Record
	dropped  int
	file     string
	flushing atomic.Bool
	// flushMu lets one flush run at a time (a background one and an
	// explicit Flush must not both send, then both trim, the same records).
	flushMu sync.Mutex
	onDrop  func()
}

func newQueue(max int, file string) (*queue, error) {
	q := &queue{max: max, file: file}
	if file == "" {
		return q, nil
	}
	f, err := os.Open(file)
	if errors.Is(err, os.ErrNotExist) {
		return q, nil
	}
	if err != nil {
		return nil, fmt.Errorf("fallback queue: %w", err)
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var r Record
		if json.Unmarshal(sc.Bytes(), &r) != nil {
			continue // a torn last line after a crash
		}
		if len(q.recs) < max {
			q.recs = append(q.recs, r)
		} else {
			q.dropped++
		}
	}
	return q, nil
}

func (q *queue) push(r Record) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.recs) >= q.max {
		q.dropped++
		if q.onDrop != nil {
			q.onDrop()
		}
		return
	}
	q.recs = append(q.recs, r)
	if q.file != "" {
		if f, err := os.OpenFile(q.file, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600); err == nil {
			line, _ := json.Marshal(r)
			_, _ = f.Write(append(line, '\n'))
			_ = f.Close()
		}
	}
}

// Len is the number of queued records.
func (q *queue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.recs)
}

// flushAsync sends the queue to the PDP in the background, once at a time.
func (q *queue) flushAsync(c *Client) {
	if q.len() == 0 && q.droppedCount() == 0 {
		return
	}
	if !q.flushing.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer q.flushing.Store(false)
		_ = q.flush(context.Background(), c)
	}()
}

func (q *queue) droppedCount() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.dropped
}

// flush sends what is queued; on success it is removed from the queue.
func (q *queue) flush(ctx context.Context, c *Client) error {
	q.flushMu.Lock()
	defer q.flushMu.Unlock()
	q.mu.Lock()
	batch := RecordBatch{Records: append([]Record(nil), q.recs...), Dropped: q.dropped}
	q.mu.Unlock()
	if len(batch.Records) == 0 && batch.Dropped == 0 {
		return nil
	}
	body, err := json.Marshal(batch)
	if err != nil {
		return err
	}
	if _, err := c.post(ctx, PathFallbackRecords, body, false); err != nil {
		return err
	}
	q.mu.Lock()
	// Only flush removes records, and flushes do not overlap, so the
	// records sent are still the queue's first ones.
	q.recs = q.recs[min(len(batch.Records), len(q.recs)):]
	q.dropped = max(q.dropped-batch.Dropped, 0)
	err = q.persistLocked()
	q.mu.Unlock()
	return err
}

// persistLocked rewrites the queue file (temp file + rename).
func (q *queue) persistLocked() error {
	if q.file == "" {
		return nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(q.file), ".fallback-queue-*")
	if err != nil {
		return err
	}
	w := bufio.NewWriter(tmp)
	for _, r := range q.recs {
		line, _ := json.Marshal(r)
		_, _ = w.Write(append(line, '\n'))
	}
	if err := w.Flush(); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), q.file)
}

func (q *queue) close() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.persistLocked()
}

// Flush sends the queued fallback records to the PDP now.
func (c *Client) Flush(ctx context.Context) error { return c.queue.flush(ctx, c) }

// Pending is the number of fallback records waiting for the PDP.
func (c *Client) Pending() int { return c.queue.len() }
