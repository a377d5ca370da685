package main

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/agentguard/agentguard/audit"
	"github.com/agentguard/agentguard/internal/telemetry"
	"github.com/agentguard/agentguard/pdp/grants"
)

// openAudit opens the decision log every server of this process writes to.
// Without --audit-key a key is generated once in the data directory, with
// its public key beside it for `agentguard audit verify`.
func openAudit(o *serveOptions, tel *telemetry.Telemetry, log *slog.Logger) (*audit.Log, error) {
	dir := o.auditDir
	if dir == "" {
		dir = filepath.Join(o.dataDir, "audit")
	}
	keyPath := o.auditKey
	if keyPath == "" {
		keyPath = filepath.Join(o.dataDir, "audit-key.pem")
		if _, err := os.Stat(keyPath); errors.Is(err, os.ErrNotExist) {
			pub, priv, err := audit.GenerateKey()
			if err != nil {
				return nil, err
			}
			privPEM, err := audit.MarshalPrivateKey(priv)
			if err != nil {
				return nil, err
			}
			pubPEM, err := audit.MarshalPublicKey(pub)
			if err != nil {
				return nil, err
			}
			if err := os.WriteFile(keyPath, privPEM, 0o600); err != nil {
				return nil, err
			}
			//nolint:gosec // a public key, meant to be read by whoever verifies the log
			if err := os.WriteFile(filepath.Join(o.dataDir, "audit-key.pub.pem"), pubPEM, 0o644); err != nil {
				return nil, err
			}
		}
	}
	data, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, fmt.Errorf("audit key: %w", err)
	}
	key, err := audit.ParsePrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("audit key %s: %w", keyPath, err)
	}
	opts := audit.Options{
		SigningKey:    key,
		MeterProvider: tel.MeterProvider,
		// Under a burst the decision path waits at most this long for room
		// in the queue; past it a record is dropped, counted, and the drop
		// itself is recorded.
		AppendBudget: 2 * time.Millisecond,
	}
	if tel.LoggerProvider != nil {
		opts.Sinks = []audit.Sink{audit.NewOTelSink(tel.LoggerProvider)}
	}
	l, err := audit.Open(dir, opts)
	if err != nil {
		return nil, fmt.Errorf("decision log %s: %w", dir, err)
	}
	log.Info("decision log open", "dir", dir, "key_id", audit.KeyID(key.Public().(ed25519.PublicKey)))
	return l, nil
}

// grantAuditor records grant lifecycle events in the decision log.
func grantAuditor(l *audit.Log) func(*grants.Request, grants.Event) {
	return func(r *grants.Request, e grants.Event) {
		l.Append(audit.Record{
			Time:       e.At,
			Kind:       audit.KindGrantEvent,
			Agent:      r.Principal.String(),
			OnBehalfOf: r.OnBehalfOf,
			Tool:       r.CedarResource.String(),
			Action:     r.CedarAction.ID,
			GrantID:    r.ID,
			Event:      e.Type + " by " + e.Actor,
			Reason:     e.Reason,
			TaskID:     r.Task,
			DecisionID: r.EvaluationID,
		})
	}
}
