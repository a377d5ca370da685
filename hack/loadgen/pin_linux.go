package main

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// pinnedEnv carries the servers' CPUs into the re-executed load generator.
const pinnedEnv = "AGENTGUARD_LOADGEN_SERVER_CPUS"

// serverCPUs are the CPUs servers are started on; nil when not pinning.
var serverCPUs []int

// pin keeps the load generator off the servers' CPUs: it re-executes itself
// on the first CPU it may use, and servers start on the others (startPinned).
// On a machine shared by client and server, the client otherwise takes CPU
// from whichever server answers faster, and the throughput ratio shrinks
// toward 1 however far apart the servers are. It returns a line describing
// the layout, or an error when there are fewer than two CPUs.
func pin() (string, error) {
	if v := os.Getenv(pinnedEnv); v != "" {
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(f)
			if err != nil {
				return "", fmt.Errorf("%s=%q: %w", pinnedEnv, v, err)
			}
			serverCPUs = append(serverCPUs, n)
		}
		var self unix.CPUSet
		if err := unix.SchedGetaffinity(0, &self); err != nil {
			return "", err
		}
		return fmt.Sprintf("pinned: load generator on CPU %v, servers on CPU %v", cpuList(self), serverCPUs), nil
	}
	var all unix.CPUSet
	if err := unix.SchedGetaffinity(0, &all); err != nil {
		return "", err
	}
	cpus := cpuList(all)
	if len(cpus) < 2 {
		return "", errors.New("fewer than two CPUs: client and servers share them")
	}
	var client unix.CPUSet
	client.Set(cpus[0])
	runtime.LockOSThread() // the exec below must come from this thread
	if err := unix.SchedSetaffinity(0, &client); err != nil {
		return "", err
	}
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	ids := make([]string, len(cpus)-1)
	for i, c := range cpus[1:] {
		ids[i] = strconv.Itoa(c)
	}
	// The new image inherits this thread's affinity in all its threads.
	return "", syscall.Exec(exe, os.Args, append(os.Environ(), pinnedEnv+"="+strings.Join(ids, ",")))
}

func cpuList(s unix.CPUSet) []int {
	var out []int
	for i := range 1024 {
		if s.IsSet(i) {
			out = append(out, i)
		}
	}
	return out
}

// startPinned starts cmd on the servers' CPUs: a child inherits the
// affinity of the thread that forks it.
func startPinned(start func() error) error {
	if serverCPUs == nil {
		return start()
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var old, srv unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		return err
	}
	for _, c := range serverCPUs {
		srv.Set(c)
	}
	if err := unix.SchedSetaffinity(0, &srv); err != nil {
		return err
	}
	err := start()
	if rerr := unix.SchedSetaffinity(0, &old); rerr != nil {
		return errors.Join(err, rerr)
	}
	return err
}
