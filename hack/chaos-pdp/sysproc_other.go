//go:build !linux

package main

import "syscall"

// sysProcAttr: no process group or parent-death signal off Linux.
func sysProcAttr() *syscall.SysProcAttr { return nil }
