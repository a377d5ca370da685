// Package ids makes the ids of decisions and requests.
package ids

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"sync/atomic"
	"time"
)

// Ids are UUIDv7-shaped: 48 bits of Unix milliseconds (so ids sort
// by time in the decision log), then 74 bits that are a random per-process
// prefix plus a counter. Unique within a process by the counter and across
// processes by the prefix, and far cheaper than reading crypto/rand for
// every decision or request.
var (
	idPrefix  = randomPrefix()
	idCounter atomic.Uint64
)

func randomPrefix() uint32 {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("crypto/rand: " + err.Error())
	}
	return binary.BigEndian.Uint32(b[:])
}

// New returns a new id.
func New() string {
	var u [16]byte
	var b8 [8]byte
	binary.BigEndian.PutUint64(b8[:], uint64(time.Now().UnixMilli())) //nolint:gosec // milliseconds since 1970 are positive
	copy(u[0:6], b8[2:8])                                             // the low 48 bits
	binary.BigEndian.PutUint32(u[6:10], idPrefix)
	binary.BigEndian.PutUint64(b8[:], idCounter.Add(1))
	copy(u[10:16], b8[2:8])
	u[6] = 0x70 | (u[6] & 0x0f) // version 7
	u[8] = 0x80 | (u[8] & 0x3f) // RFC 9562 variant
	var out [36]byte
	hex.Encode(out[0:8], u[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], u[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], u[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], u[8:10])
	out[23] = '-'
	hex.Encode(out[24:36], u[10:16])
	return string(out[:])
}
