//go:build unix

package main

import (
	"os"
	"syscall"
)

// sigStop and sigCont pause and resume a replica: a hang, not a refusal.
var sigStop, sigCont os.Signal = syscall.SIGSTOP, syscall.SIGCONT
