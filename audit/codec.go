package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
)

// Errors that callers can test with errors.Is.
var (
	// ErrMalformed means that a record or checkpoint line is not valid JSON of the
	// expected shape, or not in canonical form.
	ErrMalformed = errors.New("malformed")
	// ErrHashMismatch means that a record's hash is not the hash of its content.
	ErrHashMismatch = errors.New("hash does not match content")
)

// sealRecord sets r.Hash from r's content and appends r's line (canonical
// JSON and '\n') to b.
func sealRecord(b []byte, r *Record) []byte {
	start := len(b)
	b, at := appendRecordAt(b, r)
	sum := sha256.Sum256(b[start:])
	var hx [64]byte
	hex.Encode(hx[:], sum[:])
	r.Hash = string(hx[:])
	// Splice the hash member in where the encoder would have put it.
	var mem [76]byte
	member := mem[:0]
	if at == start+1 { // first member
		member = append(append(append(member, `"hash":"`...), hx[:]...), `",`...)
	} else {
		member = append(append(append(member, `,"hash":"`...), hx[:]...), '"')
	}
	b = append(b, member...) // grow
	copy(b[at+len(member):], b[at:len(b)-len(member)])
	copy(b[at:], member)
	return append(b, '\n')
}

// ParseRecord decodes one record line (with or without its trailing
// newline) and checks that it is in canonical form and that its hash
// matches its content. It does not check the chain (Prev); Verify does.
func ParseRecord(line []byte) (Record, error) {
	line = bytes.TrimSuffix(line, []byte{'\n'})
	var r Record
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return Record{}, fmt.Errorf("%w: record: %w", ErrMalformed, err)
	}
	if err := trailing(line, dec); err != nil {
		return Record{}, fmt.Errorf("%w: record: %w", ErrMalformed, err)
	}
	if r.Version != FormatVersion {
		return Record{}, fmt.Errorf("%w: record: unsupported format version %d (want %d)", ErrMalformed, r.Version, FormatVersion)
	}
	if !validKind(r.Kind) {
		return Record{}, fmt.Errorf("%w: record: invalid kind %q", ErrMalformed, r.Kind)
	}
	if !isHash(r.Prev) {
		return Record{}, fmt.Errorf("%w: record: prev is not 64 lowercase hex digits", ErrMalformed)
	}
	if !isHash(r.Hash) {
		return Record{}, fmt.Errorf("%w: record: hash is not 64 lowercase hex digits", ErrMalformed)
	}
	if r.Seq == 0 {
		return Record{}, fmt.Errorf("%w: record: seq must be at least 1", ErrMalformed)
	}
	if len(r.Args) != 0 {
		c, err := Canonicalize(r.Args)
		if err != nil {
			return Record{}, fmt.Errorf("%w: record args: %w", ErrMalformed, err)
		}
		r.Args = c
	}
	buf := make([]byte, 0, len(line))
	if !bytes.Equal(appendRecord(buf, &r, true), line) {
		return Record{}, fmt.Errorf("%w: record %d is not in canonical form", ErrMalformed, r.Seq)
	}
	sum := sha256.Sum256(appendRecord(buf[:0], &r, false))
	if hex.EncodeToString(sum[:]) != r.Hash {
		return Record{}, fmt.Errorf("record %d: %w", r.Seq, ErrHashMismatch)
	}
	return r, nil
}

func isHash(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
