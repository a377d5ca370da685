package main

import (
	"context"
	"errors"
	"log/slog"

	"github.com/agentguard/agentguard/internal/telemetry"
)

// runWebhook runs the admission webhook until ctx ends.
func runWebhook(ctx context.Context, o *serveOptions, tel *telemetry.Telemetry, log *slog.Logger) error {
	return errors.New("the admission webhook is not built into this binary yet (issue #3)")
}
