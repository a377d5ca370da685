//go:build !unix

package main

import "os"

// sigStop and sigCont are unavailable: the pause fault fails.
var sigStop, sigCont os.Signal
