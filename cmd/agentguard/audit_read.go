package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/agentguard/agentguard/audit"
)

type auditTailOptions struct {
	n      int
	follow bool
	output string
	poll   time.Duration
}

func newAuditTailCmd() *cobra.Command {
	o := &auditTailOptions{}
	cmd := &cobra.Command{
		Use:   "tail DIR",
		Short: "Print the last records of a decision log, and follow it with -f",
		Long: `tail prints the last N records of DIR, oldest first, and with -f keeps printing
records as the writer appends them, across segment rotations, until
interrupted. It checks each record's form and hash, not the chain; use
"audit verify" for that.`,
		Example: `  agentguard audit tail /var/lib/agentguard/decisions -n 20
  agentguard audit tail /var/lib/agentguard/decisions -f -o json | jq .`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return runAuditTail(ctx, args[0], o, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.IntVarP(&o.n, "lines", "n", 10, "number of records to print")
	f.BoolVarP(&o.follow, "follow", "f", false, "keep printing new records")
	f.StringVarP(&o.output, "output", "o", "text", "output format: text or json (one record per line)")
	f.DurationVar(&o.poll, "poll", 250*time.Millisecond, "with -f, how often to look for new records")
	return cmd
}

func runAuditTail(ctx context.Context, dir string, o *auditTailOptions, out io.Writer) error {
	if err := checkOutput(o.output); err != nil {
		return err
	}
	if err := checkDir(dir); err != nil {
		return err
	}
	if o.n < 0 || o.poll <= 0 {
		return auditUsage("-n must not be negative and --poll must be positive")
	}
	recs, last, err := audit.Tail(dir, o.n)
	if err != nil {
		return readFailed(err)
	}
	for i := range recs {
		if err := printRecord(out, &recs[i], o.output); err != nil {
			return err
		}
	}
	if !o.follow {
		return nil
	}
	c, err := audit.OpenCursor(dir, last)
	if err != nil {
		return readFailed(err)
	}
	defer func() { _ = c.Close() }()
	t := time.NewTicker(o.poll)
	defer t.Stop()
	for {
		for {
			r, _, err := c.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return readFailed(err)
			}
			if err := printRecord(out, &r, o.output); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// readFailed maps an error reading records: damage exits 1, the rest 2.
func readFailed(err error) error {
	if errors.Is(err, audit.ErrMalformed) || errors.Is(err, audit.ErrHashMismatch) {
		return auditFailed("%v (run agentguard audit verify)", err)
	}
	return auditUsage("%v", err)
}

type auditQueryOptions struct {
	filter       audit.Filter
	kind         string
	since, until string
	limit        int
	output       string
}

func newAuditQueryCmd() *cobra.Command {
	o := &auditQueryOptions{}
	cmd := &cobra.Command{
		Use:   "query DIR [filters]",
		Short: "Print the records of a decision log that match filters",
		Long: `query prints, oldest first, the records of DIR that match every filter given.
--agent and --tool take glob patterns ("team-a/*"); --since and --until take an
RFC 3339 time or a duration back from now ("1h"), and select since <= time <
until. It checks each record's form and hash, not the chain; use
"audit verify" for that.`,
		Example: `  agentguard audit query /var/lib/agentguard/decisions --agent 'acme-agents/*' --decision deny --since 24h
  agentguard audit query ./log --kind grant_event -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runAuditQuery(args[0], o, time.Now(), cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.filter.Agent, "agent", "", "agent (glob pattern)")
	f.StringVar(&o.filter.Tool, "tool", "", "tool (glob pattern)")
	f.StringVar(&o.filter.Decision, "decision", "", "decision: allow, deny, warn, ...")
	f.StringVar(&o.kind, "kind", "", "record kind: admission, pdp_decision, grant_event, client_fallback, drop")
	f.StringVar(&o.since, "since", "", "earliest time (RFC 3339, or a duration back from now)")
	f.StringVar(&o.until, "until", "", "latest time, exclusive (RFC 3339, or a duration back from now)")
	f.IntVar(&o.limit, "limit", 0, "stop after this many records (0: no limit)")
	f.StringVarP(&o.output, "output", "o", "text", "output format: text or json (one record per line)")
	return cmd
}

// parseWhen reads an RFC 3339 time or a duration back from now.
func parseWhen(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time nor a positive duration", s)
	}
	return now.Add(-d), nil
}

func runAuditQuery(dir string, o *auditQueryOptions, now time.Time, out io.Writer) error {
	if err := checkOutput(o.output); err != nil {
		return err
	}
	if err := checkDir(dir); err != nil {
		return err
	}
	f := o.filter
	f.Kind = audit.Kind(o.kind)
	var err error
	if f.Since, err = parseWhen(o.since, now); err != nil {
		return auditUsage("--since: %v", err)
	}
	if f.Until, err = parseWhen(o.until, now); err != nil {
		return auditUsage("--until: %v", err)
	}
	if err := f.Validate(); err != nil {
		return auditUsage("%v", err)
	}
	if o.limit < 0 {
		return auditUsage("--limit must not be negative")
	}
	c, err := audit.OpenCursor(dir, 0)
	if err != nil {
		return readFailed(err)
	}
	defer func() { _ = c.Close() }()
	n := 0
	for o.limit == 0 || n < o.limit {
		r, _, err := c.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return readFailed(err)
		}
		if !f.Match(&r) {
			continue
		}
		if err := printRecord(out, &r, o.output); err != nil {
			return err
		}
		n++
	}
	return nil
}
