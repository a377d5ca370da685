package main

import "syscall"

// sysProcAttr puts a replica in its own process group (a terminal's Ctrl-C
// reaches only chaos-pdp, which then stops everything in order) and has the
// kernel kill it should chaos-pdp die without cleaning up.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
