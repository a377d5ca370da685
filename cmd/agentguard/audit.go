package main

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/agentguard/agentguard/audit"
)

func newAuditCmd(_ *globalFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Verify and read the tamper-evident decision log",
		Long: `Work with a decision-log directory written by the PDP or the webhook: hash-chained
records in segment files (seg-*.jsonl) and Ed25519-signed checkpoints
(checkpoints.jsonl). See docs/audit.md.

  verify   check the chain and the signed checkpoints; name the first bad record
  tail     print the last records, and follow new ones with -f
  query    print the records that match filters (agent, tool, decision, kind, time)
  keygen   create a checkpoint signing key pair

Exit status: 0 on success, 1 when verification fails or a record is damaged,
2 on bad input.`,
	}
	cmd.AddCommand(newAuditVerifyCmd(), newAuditTailCmd(), newAuditQueryCmd(), newAuditKeygenCmd())
	return cmd
}

// auditUsage is a bad-input error (exit 2); auditFailed a failed check
// (exit 1).
func auditUsage(format string, args ...any) error {
	return &exitError{code: 2, msg: fmt.Sprintf(format, args...)}
}

func auditFailed(format string, args ...any) error {
	return &exitError{code: 1, msg: fmt.Sprintf(format, args...)}
}

// readPublicKey reads --pubkey: a file (PEM, base64 or hex) or the key
// itself inline.
func readPublicKey(v string) (ed25519.PublicKey, error) {
	if v == "" {
		return nil, auditUsage("--pubkey is required (a PEM file, or the key in base64 or hex)")
	}
	data, err := os.ReadFile(v)
	switch {
	case errors.Is(err, os.ErrNotExist):
		data = []byte(v)
	case err != nil:
		return nil, auditUsage("read --pubkey: %v", err)
	}
	pub, err := audit.ParsePublicKey(data)
	if err != nil {
		return nil, auditUsage("--pubkey: %v", err)
	}
	return pub, nil
}

func checkOutput(o string) error {
	if o != "text" && o != "json" {
		return auditUsage("-o must be text or json, not %q", o)
	}
	return nil
}

func checkDir(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return auditUsage("log directory: %v", err)
	}
	if !fi.IsDir() {
		return auditUsage("log directory: %s is not a directory", dir)
	}
	return nil
}

type auditVerifyOptions struct {
	pubkey        string
	anchors       []string
	requireSealed bool
	output        string
}

func newAuditVerifyCmd() *cobra.Command {
	o := &auditVerifyOptions{}
	cmd := &cobra.Command{
		Use:   "verify DIR --pubkey KEY",
		Short: "Check a decision log's hash chain and signed checkpoints",
		Long: `Verify walks every segment of DIR in order and checks each record's hash, the
numbering and the links between records, and every checkpoint's Ed25519
signature under KEY and its agreement with the chain. It reports the first
bad record (segment file, line and sequence number) or checkpoint: an edited,
deleted, reordered or inserted record, a truncated tail, a forged checkpoint.

Records after the last checkpoint are chained but not yet signed; they are
reported as unsealed, and --require-sealed makes them a failure (use it on a
log that was closed cleanly).

--anchor names a file of checkpoint lines kept outside the log directory (for
instance the latest checkpoint received over OTLP, or a copy of
checkpoints.jsonl taken earlier): the log must agree with each and reach it,
which catches a log cut back together with its checkpoint file.`,
		Example: `  agentguard audit verify /var/lib/agentguard/decisions --pubkey audit.pub
  agentguard audit verify ./copy --pubkey MCowBQYDK2VwAyEA... -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runAuditVerify(args[0], o, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.pubkey, "pubkey", "", "checkpoint public key: a file (PEM, base64 or hex) or the key inline")
	f.StringArrayVar(&o.anchors, "anchor", nil, "file of checkpoint lines kept elsewhere, that the log must reach (repeatable)")
	f.BoolVar(&o.requireSealed, "require-sealed", false, "fail when records follow the last checkpoint")
	f.StringVarP(&o.output, "output", "o", "text", "output format: text or json")
	return cmd
}

// verifyResult is the JSON output of audit verify.
type verifyResult struct {
	OK      bool               `json:"ok"`
	Report  audit.Report       `json:"report"`
	Problem *audit.VerifyError `json:"problem,omitempty"`
}

func runAuditVerify(dir string, o *auditVerifyOptions, out io.Writer) error {
	if err := checkOutput(o.output); err != nil {
		return err
	}
	if err := checkDir(dir); err != nil {
		return err
	}
	pub, err := readPublicKey(o.pubkey)
	if err != nil {
		return err
	}
	anchors, err := readAnchors(o.anchors)
	if err != nil {
		return err
	}
	rep, err := audit.VerifyWith(dir, pub, audit.VerifyOptions{Anchors: anchors})
	var ve *audit.VerifyError
	if err != nil && !errors.As(err, &ve) {
		return auditUsage("verify: %v", err)
	}
	if ve == nil && o.requireSealed && rep.Unsealed > 0 {
		ve = &audit.VerifyError{File: audit.CheckpointFile, Seq: rep.SealedSeq + 1, Reason: fmt.Sprintf(
			"%d records after the last checkpoint are not signed (--require-sealed)", rep.Unsealed)}
	}
	if o.output == "json" {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(verifyResult{OK: ve == nil, Report: rep, Problem: ve}); err != nil {
			return err
		}
		if ve != nil {
			return &exitError{code: 1}
		}
		return nil
	}
	if ve != nil {
		fmt.Fprintf(out, "FAILED: %v\n", ve)
		fmt.Fprintf(out, "verified before it: %d records in %d segments, %d checkpoints\n", rep.Records, rep.Segments, rep.Checkpoints)
		return &exitError{code: 1}
	}
	fmt.Fprintf(out, "OK: %d records in %d segments", rep.Records, rep.Segments)
	if rep.Records > 0 {
		fmt.Fprintf(out, " (records 1-%d, %s to %s)", rep.LastSeq,
			rep.FirstTime.UTC().Format(time.RFC3339), rep.LastTime.UTC().Format(time.RFC3339))
	}
	fmt.Fprintf(out, "\ncheckpoints: %d valid, key %s; the last seals record %d, %d unsealed after it\n",
		rep.Checkpoints, rep.KeyID, rep.SealedSeq, rep.Unsealed)
	fmt.Fprintf(out, "head: %s\n", rep.LastHash)
	if rep.DropRecords > 0 {
		fmt.Fprintf(out, "drops: %d drop records note %d lost records\n", rep.DropRecords, rep.Dropped)
	}
	for _, w := range rep.Warnings {
		fmt.Fprintf(out, "warning: %s\n", w)
	}
	return nil
}

// readAnchors reads checkpoint lines from files.
func readAnchors(paths []string) ([]audit.Checkpoint, error) {
	var out []audit.Checkpoint
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, auditUsage("--anchor: %v", err)
		}
		for i, line := range strings.Split(string(data), "\n") {
			if strings.TrimSpace(line) == "" {
				continue
			}
			cp, err := audit.ParseCheckpoint([]byte(line))
			if err != nil {
				return nil, auditUsage("--anchor %s line %d: %v", p, i+1, err)
			}
			out = append(out, cp)
		}
	}
	return out, nil
}

type auditKeygenOptions struct {
	out string
}

func newAuditKeygenCmd() *cobra.Command {
	o := &auditKeygenOptions{}
	cmd := &cobra.Command{
		Use:   "keygen --out PREFIX",
		Short: "Create an Ed25519 key pair for signing decision-log checkpoints",
		Long: `keygen writes PREFIX.key (PKCS #8 PEM, mode 0600) for the PDP or webhook to sign
checkpoints with, and PREFIX.pub (PKIX PEM) for auditors to verify with. It
refuses to overwrite existing files. Keep the private key out of the log
directory: whoever holds it can re-sign a rewritten log.`,
		Example: `  agentguard audit keygen --out /etc/agentguard/audit`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runAuditKeygen(o, cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&o.out, "out", "", "path prefix of the key files (PREFIX.key, PREFIX.pub)")
	return cmd
}

func runAuditKeygen(o *auditKeygenOptions, out io.Writer) error {
	if o.out == "" {
		return auditUsage("--out is required")
	}
	pub, priv, err := audit.GenerateKey()
	if err != nil {
		return err
	}
	privPEM, err := audit.MarshalPrivateKey(priv)
	if err != nil {
		return err
	}
	pubPEM, err := audit.MarshalPublicKey(pub)
	if err != nil {
		return err
	}
	keyPath, pubPath := o.out+".key", o.out+".pub"
	for _, p := range []string{keyPath, pubPath} {
		if _, err := os.Stat(p); err == nil {
			return auditUsage("%s exists; not overwriting it", p)
		}
	}
	if err := writeNew(keyPath, privPEM, 0o600); err != nil {
		return auditUsage("%v", err)
	}
	if err := writeNew(pubPath, pubPEM, 0o644); err != nil {
		return auditUsage("%v", err)
	}
	fmt.Fprintf(out, "private key: %s\npublic key:  %s\nkey id:      %s\n", keyPath, pubPath, audit.KeyID(pub))
	return nil
}

// writeNew creates path with data, failing if it exists.
func writeNew(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}

// printRecord writes one record as a JSON line or as a text line.
func printRecord(out io.Writer, r *audit.Record, format string) error {
	if format == "json" {
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(out, "%s\n", b)
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s #%d %s", r.Time.UTC().Format("2006-01-02T15:04:05.000Z"), r.Seq, r.Kind)
	for _, kv := range [][2]string{
		{"decision", r.Decision}, {"agent", r.Agent}, {"tool", r.Tool}, {"action", r.Action},
		{"namespace", r.Namespace}, {"object", r.Object}, {"policies", strings.Join(r.Policies, ",")},
		{"revision", r.Revision}, {"event", r.Event}, {"grant", r.GrantID}, {"trace", r.TraceID},
	} {
		if kv[1] != "" {
			fmt.Fprintf(&b, " %s=%s", kv[0], quoteIfNeeded(kv[1]))
		}
	}
	if r.Count > 0 {
		fmt.Fprintf(&b, " count=%d", r.Count)
	}
	if r.Reason != "" {
		fmt.Fprintf(&b, " reason=%q", r.Reason)
	}
	_, err := fmt.Fprintln(out, b.String())
	return err
}

func quoteIfNeeded(s string) string {
	if strings.ContainsAny(s, " \t\n\"=") {
		return fmt.Sprintf("%q", s)
	}
	return s
}
