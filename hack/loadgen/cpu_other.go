//go:build !linux

package main

import "time"

// processCPU is only implemented on Linux.
func processCPU(int) time.Duration { return -1 }
