//go:build unix && !linux

package main

import "syscall"

// sysProcAttr puts a server in its own process group, so that a terminal's
// Ctrl-C reaches only the load generator, which then stops the servers.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
