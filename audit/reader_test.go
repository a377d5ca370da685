package audit

import (
	"errors"
	"io"
	"testing"
	"time"
)

// A Cursor follows a live log across rotations and skips to a position.
func TestCursorFollowsLiveLog(t *testing.T) {
	t.Parallel()
	_, priv := testKey(t)
	dir := t.TempDir()
	l, err := Open(dir, Options{SigningKey: priv, SegmentBytes: 4 << 10, FlushInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	c, err := OpenCursor(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	if _, _, err := c.Next(); !errors.Is(err, io.EOF) {
		t.Fatalf("empty log: Next = %v, want io.EOF", err)
	}
	const n = 120
	go func() {
		for i := range n {
			l.Append(decision(i))
			time.Sleep(50 * time.Microsecond)
		}
	}()
	segs := map[string]bool{}
	deadline := time.Now().Add(20 * time.Second)
	for seq := uint64(1); seq <= n; {
		r, seg, err := c.Next()
		if errors.Is(err, io.EOF) {
			if time.Now().After(deadline) {
				t.Fatalf("stuck at record %d", seq)
			}
			time.Sleep(time.Millisecond)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if r.Seq != seq {
			t.Fatalf("got record %d, want %d", r.Seq, seq)
		}
		segs[seg] = true
		seq++
	}
	if len(segs) < 2 {
		t.Errorf("read from %d segments, want several", len(segs))
	}

	c2, err := OpenCursor(dir, 100)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c2.Close() }()
	r, _, err := c2.Next()
	if err != nil || r.Seq != 101 {
		t.Errorf("OpenCursor(after 100).Next = %d, %v; want record 101", r.Seq, err)
	}
}

func TestFilter(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r := Record{Kind: KindPDPDecision, Agent: "team-a/researcher", Tool: "web.search", Decision: DecisionDeny, Time: t0}
	for _, tc := range []struct {
		name string
		f    Filter
		want bool
	}{
		{"empty", Filter{}, true},
		{"agent glob", Filter{Agent: "team-a/*"}, true},
		{"agent other", Filter{Agent: "team-b/*"}, false},
		{"tool", Filter{Tool: "web.search"}, true},
		{"tool other", Filter{Tool: "shell"}, false},
		{"decision", Filter{Decision: DecisionAllow}, false},
		{"kind", Filter{Kind: KindAdmission}, false},
		{"since inclusive", Filter{Since: t0}, true},
		{"since later", Filter{Since: t0.Add(time.Second)}, false},
		{"until exclusive", Filter{Until: t0}, false},
		{"until later", Filter{Until: t0.Add(time.Second), Decision: DecisionDeny}, true},
	} {
		if got := tc.f.Match(&r); got != tc.want {
			t.Errorf("%s: Match = %v, want %v", tc.name, got, tc.want)
		}
	}
	if err := (&Filter{Agent: "[a"}).Validate(); err == nil {
		t.Error("Validate accepted a bad pattern")
	}
}
