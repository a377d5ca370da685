// Command agentguard is the guardrail layer for AI agents on Kubernetes: an
// admission webhook for agent workloads and a policy decision point (PDP) for
// their tool calls. See README.md.
package main

import (
	"errors"
	"fmt"
	"os"
)

func main() {
	if err := newRootCmd().Execute(); err != nil {
		var ee *exitError
		if errors.As(err, &ee) {
			if ee.msg != "" {
				fmt.Fprintln(os.Stderr, "agentguard:", ee.msg)
			}
			os.Exit(ee.code)
		}
		fmt.Fprintln(os.Stderr, "agentguard:", err)
		os.Exit(2)
	}
}

// exitError makes a command exit with a given code (1 for "denied" or
// "failed", 2 for bad input) instead of the default 2.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }
