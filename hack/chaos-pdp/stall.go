package main

import (
	"context"
	"sync"
	"time"
)

// stallMonitor notices when this process does not run: a goroutine that
// wakes every tick and records how much later than asked it woke. On a
// shared machine the clients (in this process) can be descheduled for a
// while; a call is only blamed for lateness the monitor did not see.
type stallMonitor struct {
	mu     sync.Mutex
	stalls []stall
	max    time.Duration
}

type stall struct {
	from, to time.Time
}

const (
	stallTick = 5 * time.Millisecond
	stallMin  = 20 * time.Millisecond
)

func (s *stallMonitor) run(ctx context.Context) {
	t := time.NewTicker(stallTick)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			now := time.Now()
			if late := now.Sub(last) - stallTick; late >= stallMin {
				s.mu.Lock()
				s.stalls = append(s.stalls, stall{from: last, to: now})
				s.max = max(s.max, late)
				s.mu.Unlock()
			}
			last = now
		}
	}
}

// within is how long the process stood still during [from, to].
func (s *stallMonitor) within(from, to time.Time) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	var d time.Duration
	for _, st := range s.stalls {
		a, b := maxTime(st.from, from), minTime(st.to, to)
		if b.After(a) {
			d += b.Sub(a)
		}
	}
	return d
}

func (s *stallMonitor) longest() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.max
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
