package images

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	rekorv1 "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/tlog"
	"github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
)

// rekorBundle is cosign's dev.sigstore.cosign/bundle annotation: a Rekor
// v1 entry with its signed entry timestamp (an inclusion promise).
type rekorBundle struct {
	SignedEntryTimestamp []byte `json:"SignedEntryTimestamp"`
	Payload              struct {
		Body           string `json:"body"`
		IntegratedTime int64  `json:"integratedTime"`
		LogIndex       int64  `json:"logIndex"`
		LogID          string `json:"logID"`
	} `json:"Payload"`
}

// classicEntity presents a classic keyless signature to sigstore-go's
// verifier as a Sigstore bundle v0.1 would: certificate, message
// signature over the payload, Rekor entry with its promise, and an
// optional RFC 3161 timestamp.
type classicEntity struct {
	cert       *bundle.Certificate
	sig        *bundle.MessageSignature
	entries    []*tlog.Entry
	timestamps [][]byte
}

var _ verify.SignedEntity = (*classicEntity)(nil)

func newClassicEntity(s *classicSig) (*classicEntity, error) {
	if s.cert == "" {
		return nil, errors.New("no certificate (a key signature)")
	}
	certs, err := cryptoutils.UnmarshalCertificatesFromPEM([]byte(s.cert))
	if err != nil || len(certs) == 0 {
		return nil, errors.New("malformed certificate annotation")
	}
	sig, err := base64.StdEncoding.DecodeString(s.signature)
	if err != nil {
		return nil, fmt.Errorf("signature is not base64: %w", err)
	}
	sum := sha256.Sum256(s.payload)
	e := &classicEntity{cert: bundle.NewCertificate(certs[0]), sig: bundle.NewMessageSignature(sum[:], "SHA2_256", sig)}
	if s.rekor != "" {
		var rb rekorBundle
		if err := json.Unmarshal([]byte(s.rekor), &rb); err != nil {
			return nil, fmt.Errorf("malformed Rekor bundle annotation: %w", err)
		}
		body, err := base64.StdEncoding.DecodeString(rb.Payload.Body)
		if err != nil {
			return nil, fmt.Errorf("malformed Rekor entry body: %w", err)
		}
		logID, err := hex.DecodeString(rb.Payload.LogID)
		if err != nil {
			return nil, fmt.Errorf("malformed Rekor log ID: %w", err)
		}
		var kv struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		if err := json.Unmarshal(body, &kv); err != nil {
			return nil, fmt.Errorf("malformed Rekor entry body: %w", err)
		}
		entry, err := tlog.ParseTransparencyLogEntry(&rekorv1.TransparencyLogEntry{
			LogIndex:          rb.Payload.LogIndex,
			LogId:             &protocommon.LogId{KeyId: logID},
			KindVersion:       &rekorv1.KindVersion{Kind: kv.Kind, Version: kv.APIVersion},
			IntegratedTime:    rb.Payload.IntegratedTime,
			InclusionPromise:  &rekorv1.InclusionPromise{SignedEntryTimestamp: rb.SignedEntryTimestamp},
			CanonicalizedBody: body,
		})
		if err != nil {
			return nil, fmt.Errorf("malformed Rekor entry: %w", err)
		}
		e.entries = append(e.entries, entry)
	}
	if s.timestamp != "" {
		var ts struct {
			SignedRFC3161Timestamp []byte `json:"SignedRFC3161Timestamp"`
		}
		if err := json.Unmarshal([]byte(s.timestamp), &ts); err != nil {
			return nil, fmt.Errorf("malformed RFC 3161 timestamp annotation: %w", err)
		}
		e.timestamps = append(e.timestamps, ts.SignedRFC3161Timestamp)
	}
	return e, nil
}

func (e *classicEntity) HasInclusionPromise() bool { return len(e.entries) > 0 }
func (e *classicEntity) HasInclusionProof() bool   { return false }
func (e *classicEntity) Version() (string, error)  { return "v0.1", nil }
func (e *classicEntity) Timestamps() ([][]byte, error) {
	return e.timestamps, nil
}
func (e *classicEntity) TlogEntries() ([]*tlog.Entry, error) { return e.entries, nil }
func (e *classicEntity) SignatureContent() (verify.SignatureContent, error) {
	return e.sig, nil
}
func (e *classicEntity) VerificationContent() (verify.VerificationContent, error) {
	return e.cert, nil
}
