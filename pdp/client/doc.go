// Package client is the Go SDK for policy enforcement points — gateways,
// MCP servers, agent runtimes — that ask agentguard's PDP before each tool
// call.
//
// Every call has a deadline; evaluations (which change nothing) are retried
// with jittered backoff inside it; a circuit breaker makes a dead PDP cost
// microseconds instead of timeouts. When the PDP cannot be reached, the
// client applies the fallback the bundle declares for that tool
// (pdp/fallback.yaml): deny (the default), cached (an allow decided for the
// same call within maxStale, never past its grant's approved_until), local
// (evaluate against a verified copy of the bundle and a snapshot of active
// grants) or allow (low-risk tools only). Every fallback decision is
// counted (agentguard_client_fallback_total{mode,tool,reason}), added to
// the caller's span as an event, handed to Options.OnFallback for logging,
// and queued — bounded, on disk if configured — to be sent to the PDP's
// decision log once it is back.
package client
