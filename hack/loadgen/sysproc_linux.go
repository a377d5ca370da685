package main

import "syscall"

// sysProcAttr puts a server in its own process group (a terminal's Ctrl-C
// reaches only the load generator, which then stops the servers in order) and
// has the kernel kill it should the load generator die without cleaning up.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
