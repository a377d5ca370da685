package main

import (
	"fmt"
	"runtime/debug"
	"sync"
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

// Wait waits for every goroutine and returns the first panic, if any.
func (g *group) Wait() error {
	g.wg.Wait()
	return g.Err()
}

// Err is the first panic so far.
func (g *group) Err() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.err
}
