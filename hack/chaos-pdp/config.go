package main

import (
	"io"
	"time"
)

// config sizes a run.
type config struct {
	// Agentguard is the binary to run as the PDP; empty builds one.
	Agentguard string
	// Root holds policies/ and config/crd; empty means the module root.
	Root string
	// Assets is KUBEBUILDER_ASSETS (kube-apiserver and etcd). Required.
	Assets string

	// Warm is how long the load runs against a healthy PDP before each
	// fault (filling caches, learning clock offsets); Fault is each
	// fault's length; Recover bounds the wait for every client to get a
	// PDP answer again after a fault.
	Warm, Fault, Recover time.Duration
	// MaxStale is the cached mode's maxStale in the chaos bundle: half a
	// fault, so that cached allows run out during each fault.
	MaxStale time.Duration

	// Clients is the number of PEP clients; Rate the calls per second
	// each makes (one at a time, so at most Clients calls are in flight).
	Clients int
	Rate    float64
	// Timeout is each client call's deadline (client.Options.Timeout).
	// A call that returns later than Timeout+Grace blocked past it.
	Timeout, Grace time.Duration
	// BreakerOpenFor is how long a client's circuit stays open.
	BreakerOpenFor time.Duration

	// Faults selects faults by name; empty runs them all.
	Faults []string
	// CSV, when set, receives every call (one line each) for analysis.
	CSV string
	// Keep leaves the temp dir (replica logs) in place.
	Keep bool
	// Log receives progress lines; nil discards them.
	Log io.Writer
}

func defaultConfig(short bool) config {
	c := config{
		Warm:           3 * time.Second,
		Recover:        30 * time.Second,
		Clients:        6,
		Rate:           20,
		Timeout:        500 * time.Millisecond,
		Grace:          200 * time.Millisecond,
		BreakerOpenFor: time.Second,
	}
	c.setFault(20 * time.Second)
	if short {
		c.Warm = time.Second
		c.Recover = 20 * time.Second
		c.Clients = 4
		c.setFault(4 * time.Second)
	}
	return c
}

// setFault sets the fault length and the maxStale that goes with it.
func (c *config) setFault(d time.Duration) {
	c.Fault = d
	c.MaxStale = max(d/2, time.Second).Truncate(time.Second)
}
