package audit

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Errors of checkpoint verification.
var (
	// ErrBadSignature means that a checkpoint's signature does not verify.
	ErrBadSignature = errors.New("checkpoint signature does not verify")
	// ErrWrongKey means that a checkpoint names a key other than the one given.
	ErrWrongKey = errors.New("checkpoint signed by another key")
)

// checkpointDomain separates checkpoint signatures from any other use of
// the key.
const checkpointDomain = "agentguard-audit-checkpoint-v1\n"

// Checkpoint seals a prefix of the log: records 1..Seq, the last of which
// has hash Head. The writer signs one every Options.CheckpointEvery records
// or Options.CheckpointInterval, at rotation, at Open and at Close, after
// the records it covers are synced to disk.
type Checkpoint struct {
	// Version is the format version, FormatVersion.
	Version int `json:"v"`
	// Seq is the number of records covered (the Seq of the last one).
	Seq uint64 `json:"seq"`
	// Head is the Hash of record Seq, or GenesisHash when Seq is 0.
	Head string `json:"head"`
	// Segment is the segment file holding record Seq (empty when Seq is 0).
	Segment string `json:"segment,omitempty"`
	// Time is when the checkpoint was signed.
	Time time.Time `json:"time"`
	// KeyID identifies the signing key: KeyID(public key).
	KeyID string `json:"key_id"`
	// Sig is the standard base64 Ed25519 signature over
	// "agentguard-audit-checkpoint-v1\n" followed by the canonical encoding
	// of the checkpoint without its sig member.
	Sig string `json:"sig"`
}

// KeyID is the identifier of a public key used in checkpoints: the first 8
// bytes of its SHA-256, in hex.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

func appendCheckpoint(b []byte, c *Checkpoint, withSig bool) []byte {
	o := object{b: b}
	o.strAlways("head", c.Head)
	o.strAlways("key_id", c.KeyID)
	o.str("segment", c.Segment)
	o.uint("seq", c.Seq, true)
	if withSig {
		o.strAlways("sig", c.Sig)
	}
	o.time("time", c.Time)
	o.int("v", c.Version)
	return o.end()
}

func checkpointMessage(c *Checkpoint) []byte {
	return appendCheckpoint([]byte(checkpointDomain), c, false)
}

// signCheckpoint fills KeyID and Sig and returns the checkpoint's line.
func signCheckpoint(c *Checkpoint, key ed25519.PrivateKey) []byte {
	pub, _ := key.Public().(ed25519.PublicKey)
	c.Version = FormatVersion
	c.KeyID = KeyID(pub)
	c.Sig = base64.StdEncoding.EncodeToString(ed25519.Sign(key, checkpointMessage(c)))
	return append(appendCheckpoint(nil, c, true), '\n')
}

// ParseCheckpoint decodes one checkpoint line (with or without its trailing
// newline) and checks its form. It does not check the signature; see
// Checkpoint.Verify.
func ParseCheckpoint(line []byte) (Checkpoint, error) {
	line = bytes.TrimSuffix(line, []byte{'\n'})
	var c Checkpoint
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return Checkpoint{}, fmt.Errorf("%w: checkpoint: %w", ErrMalformed, err)
	}
	if err := trailing(line, dec); err != nil {
		return Checkpoint{}, fmt.Errorf("%w: checkpoint: %w", ErrMalformed, err)
	}
	if c.Version != FormatVersion {
		return Checkpoint{}, fmt.Errorf("%w: checkpoint: unsupported format version %d (want %d)", ErrMalformed, c.Version, FormatVersion)
	}
	if !isHash(c.Head) {
		return Checkpoint{}, fmt.Errorf("%w: checkpoint: head is not 64 lowercase hex digits", ErrMalformed)
	}
	if c.Seq == 0 && c.Head != GenesisHash {
		return Checkpoint{}, fmt.Errorf("%w: checkpoint: seq 0 with a head other than the genesis hash", ErrMalformed)
	}
	if c.Segment != "" {
		if _, ok := parseSegmentName(c.Segment); !ok {
			return Checkpoint{}, fmt.Errorf("%w: checkpoint: invalid segment name %q", ErrMalformed, c.Segment)
		}
	}
	if sig, err := base64.StdEncoding.DecodeString(c.Sig); err != nil || len(sig) != ed25519.SignatureSize {
		return Checkpoint{}, fmt.Errorf("%w: checkpoint: sig is not a base64 Ed25519 signature", ErrMalformed)
	}
	if !bytes.Equal(appendCheckpoint(nil, &c, true), line) {
		return Checkpoint{}, fmt.Errorf("%w: checkpoint at seq %d is not in canonical form", ErrMalformed, c.Seq)
	}
	return c, nil
}

// Verify checks the checkpoint's signature under pub.
func (c *Checkpoint) Verify(pub ed25519.PublicKey) error {
	if len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("public key has %d bytes, want %d", len(pub), ed25519.PublicKeySize)
	}
	if id := KeyID(pub); c.KeyID != id {
		return fmt.Errorf("%w: key_id %q, the given key is %q", ErrWrongKey, c.KeyID, id)
	}
	sig, err := base64.StdEncoding.DecodeString(c.Sig)
	if err != nil || !ed25519.Verify(pub, checkpointMessage(c), sig) {
		return ErrBadSignature
	}
	return nil
}
