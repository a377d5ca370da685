package main

import (
	"fmt"
	"runtime/debug"
	"sync"
	"time"
)

// group runs the harness's goroutines. A panic in one is recovered, kept
// as the group's error and reported to onPanic (which cancels the run), so
// that the deferred cleanup still stops every process.
type group struct {
	onPanic func()

	wg  sync.WaitGroup
	mu  sync.Mutex
	err error
}

// Go runs f in a goroutine.
func (g *group) Go(f func()) {
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		defer func() {
			if v := recover(); v != nil {
				g.mu.Lock()
				if g.err == nil {
					g.err = fmt.Errorf("panic: %v\n%s", v, debug.Stack())
				}
				g.mu.Unlock()
				if g.onPanic != nil {
					g.onPanic()
				}
			}
		}()
		f()
	}()
}

// WaitFor waits for every goroutine, at most d, and returns the first
// panic, if any. Past d, goroutines stuck in a wedged client are left
// behind (the process exits soon after) and reported.
func (g *group) WaitFor(d time.Duration) error {
	done := make(chan struct{})
	go func() {
		g.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return g.Err()
	case <-time.After(d):
		if err := g.Err(); err != nil {
			return err
		}
		return fmt.Errorf("goroutines still running %s after the run ended (a client call is stuck)", d)
	}
}

// Err is the first panic so far.
func (g *group) Err() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.err
}
