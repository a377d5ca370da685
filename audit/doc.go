// Package audit is agentguard's tamper-evident decision log (control
// AG-SEC-011).
//
// Every admission decision, PDP decision, grant lifecycle event and client
// fallback becomes one Record. Records are written as canonical JSON
// (RFC 8785 JSON Canonicalization Scheme), one per line, to append-only
// segment files; each record carries the SHA-256 hash of the previous one,
// so the records form a hash chain. At intervals the writer signs a
// Checkpoint (record count and head hash) with an Ed25519 key. Verify walks
// the chain across segments, checks every signed checkpoint against it and
// names the first record that does not fit.
//
// Log.Append never waits on the disk: it hands the record to a bounded
// queue and returns. A background writer redacts, encodes, chains, writes,
// rotates segments, syncs and checkpoints. Records that do not fit in the
// queue are counted, and the count is itself written as a "drop" record as
// soon as the writer catches up, so a gap is visible in the log.
//
// docs/audit.md describes the file format, the canonical encoding, the
// fsync policy, redaction and verification.
package audit
