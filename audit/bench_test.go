//go:build unix

package audit

import (
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// cpuTime is the process's user+system CPU time. The machines these run on
// are shared, so wall-clock ns/op overstates costs; cpu-ns/op does not.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkAppend is the cost on the decision path: a non-blocking enqueue
// while the writer runs. Run it with -benchtime=50000x so that the queue
// (64Ki records) never fills: otherwise it measures the drop path
// (drops/op > 0), because Append is far faster than the writer.
func BenchmarkAppend(b *testing.B) {
	_, priv := testKey(b)
	rec := decision(1)
	b.Run("serial", func(b *testing.B) {
		l, err := Open(b.TempDir(), Options{SigningKey: priv, QueueSize: 1 << 16})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		cpu0, n := cpuTime(b), 0
		for b.Loop() {
			l.Append(rec)
			n++
		}
		b.StopTimer()
		b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(n), "cpu-ns/op")
		b.ReportMetric(float64(l.Stats().Dropped)/float64(n), "drops/op")
		if err := l.Close(); err != nil {
			b.Fatal(err)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		l, err := Open(b.TempDir(), Options{SigningKey: priv, QueueSize: 1 << 16})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				l.Append(rec)
			}
		})
		b.StopTimer()
		b.ReportMetric(float64(l.Stats().Dropped)/float64(b.N), "drops/op")
		if err := l.Close(); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkWriterThroughput measures records per second through the whole
// pipeline (redact, encode, hash, write, checkpoint), by argument size. A
// record refused because the queue is full is retried, so every record is
// written; Close is inside the timing.
func BenchmarkWriterThroughput(b *testing.B) {
	_, priv := testKey(b)
	for _, size := range []int{0, 256, 2048} {
		b.Run(fmt.Sprintf("args=%dB", size), func(b *testing.B) {
			rec := decision(1)
			rec.Args = nil
			if size > 0 {
				rec.Args = json.RawMessage(`{"api_token":"x","q":"` + strings.Repeat("a", size-25) + `"}`)
			}
			l, err := Open(b.TempDir(), Options{SigningKey: priv})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				for !l.Append(rec) {
					runtime.Gosched()
				}
				n++
			}
			if err := l.Close(); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// BenchmarkVerify measures verification speed.
func BenchmarkVerify(b *testing.B) {
	pub, priv := testKey(b)
	dir := b.TempDir()
	l, err := Open(dir, Options{SigningKey: priv})
	if err != nil {
		b.Fatal(err)
	}
	rec := decision(1)
	const n = 10000
	for range n {
		for !l.Append(rec) {
			runtime.Gosched()
		}
	}
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := Verify(dir, pub); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkWriteRecord is the writer's CPU cost per record, without the
// queue: prepare, redact, encode, hash, buffer, flush, checkpoint.
func BenchmarkWriteRecord(b *testing.B) {
	_, priv := testKey(b)
	for _, size := range []int{0, 256, 2048} {
		b.Run(fmt.Sprintf("args=%dB", size), func(b *testing.B) {
			rec := decision(1)
			rec.Args = nil
			if size > 0 {
				rec.Args = json.RawMessage(`{"api_token":"x","q":"` + strings.Repeat("a", size-25) + `"}`)
			}
			dir := b.TempDir()
			l, err := openLog(dir, Options{SigningKey: priv})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			cpu0, n := cpuTime(b), 0
			for b.Loop() {
				r := rec
				l.writeRecord(&r)
				n++
			}
			b.StopTimer()
			b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(n), "cpu-ns/op")
			if err := l.checkpoint(false); err != nil {
				b.Fatal(err)
			}
			_ = l.w.close()
			_ = unlockDir(l.lock, dir+"/"+lockFile)
		})
	}
}
