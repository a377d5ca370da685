//go:build !linux

package main

// startReaper has no way to find the envtest children off Linux: cleanup
// relies on the deferred stops alone.
func startReaper(string) (func(), error) { return func() {}, nil }
