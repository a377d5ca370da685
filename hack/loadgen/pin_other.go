//go:build !linux

package main

import "errors"

// pin is only implemented on Linux; elsewhere client and servers share
// the CPUs.
func pin() (string, error) {
	return "", errors.New("CPU pinning is only implemented on Linux")
}

func startPinned(start func() error) error { return start() }
