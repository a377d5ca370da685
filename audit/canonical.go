package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// The canonical encoding is RFC 8785 (JSON Canonicalization Scheme): object
// members sorted by the UTF-16 code units of their names, no insignificant
// whitespace, strings escaped minimally (only '"', '\\' and control
// characters, with \b \t \n \f \r or \u00xx), numbers in ECMAScript
// Number.prototype.toString form. Record and Checkpoint are encoded by
// hand-written functions that emit their members in sorted order (the
// tests check them against the generic canonicalizer); Args goes through
// the generic canonicalizer.

const hexDigits = "0123456789abcdef"

// plainByte marks the ASCII bytes a JCS string carries as they are.
var plainByte = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// appendString appends s as a JCS string. Invalid UTF-8 becomes U+FFFD, as
// encoding/json would decode it.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		for i < len(s) && plainByte[s[i]] {
			i++
		}
		if i == len(s) {
			break
		}
		c := s[i]
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\t':
				b = append(b, '\\', 't')
			case '\n':
				b = append(b, '\\', 'n')
			case '\f':
				b = append(b, '\\', 'f')
			case '\r':
				b = append(b, '\\', 'r')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, "\uFFFD"...)
			i++
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendNumber appends f in the ECMAScript Number.prototype.toString form
// that RFC 8785 section 3.2.2.3 requires.
func appendNumber(b []byte, f float64) ([]byte, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return b, errors.New("number is not finite")
	}
	if f == 0 { // also -0
		return append(b, '0'), nil
	}
	// Integers below 2^53 print as themselves.
	if f == math.Trunc(f) && math.Abs(f) < 1<<53 {
		return strconv.AppendInt(b, int64(f), 10), nil
	}
	if f < 0 {
		b = append(b, '-')
		f = -f
	}
	// Shortest round-trip digits d1d2...dk and exponent: f = 0.d1...dk × 10^n.
	var tmp, dig [32]byte
	e := strconv.AppendFloat(tmp[:0], f, 'e', -1, 64) // d.ddde±xx
	mant, exp, _ := bytes.Cut(e, []byte{'e'})
	digits := dig[:0]
	for _, c := range mant {
		if c != '.' {
			digits = append(digits, c)
		}
	}
	x, err := strconv.Atoi(string(exp))
	if err != nil {
		return b, fmt.Errorf("format number: %w", err)
	}
	k, n := len(digits), x+1
	switch {
	case k <= n && n <= 21:
		b = append(b, digits...)
		for range n - k {
			b = append(b, '0')
		}
	case 0 < n && n <= 21:
		b = append(b, digits[:n]...)
		b = append(b, '.')
		b = append(b, digits[n:]...)
	case -6 < n && n <= 0:
		b = append(b, '0', '.')
		for range -n {
			b = append(b, '0')
		}
		b = append(b, digits...)
	default:
		b = append(b, digits[0])
		if k > 1 {
			b = append(b, '.')
			b = append(b, digits[1:]...)
		}
		b = append(b, 'e')
		if n-1 >= 0 {
			b = append(b, '+')
		}
		b = strconv.AppendInt(b, int64(n-1), 10)
	}
	return b, nil
}

// Canonicalize returns the RFC 8785 canonical form of the JSON value in
// raw. It refuses what encoding/json refuses, trailing data and numbers
// that are not finite IEEE 754 doubles.
func Canonicalize(raw []byte) ([]byte, error) {
	return canonicalJSON(raw, nil)
}

// trailing reports data after the value dec has decoded from raw.
func trailing(raw []byte, dec *json.Decoder) error {
	for _, c := range raw[dec.InputOffset():] {
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return errors.New("data after the value")
		}
	}
	return nil
}

// compareUTF16 orders strings by their UTF-16 code units (RFC 8785 3.2.3).
func compareUTF16(a, b string) int {
	ascii := true
	for i := 0; i < len(a) && ascii; i++ {
		ascii = a[i] < utf8.RuneSelf
	}
	for i := 0; i < len(b) && ascii; i++ {
		ascii = b[i] < utf8.RuneSelf
	}
	if ascii {
		switch {
		case a < b:
			return -1
		case a > b:
			return 1
		}
		return 0
	}
	return slices.Compare(utf16.Encode([]rune(a)), utf16.Encode([]rune(b)))
}

// object writes the members of a JSON object; callers add them in sorted
// order.
type object struct {
	b []byte
	n int
}

func (o *object) key(k string) {
	if o.n == 0 {
		o.b = append(o.b, '{')
	} else {
		o.b = append(o.b, ',')
	}
	o.n++
	o.b = append(o.b, '"')
	o.b = append(o.b, k...) // member names are plain ASCII
	o.b = append(o.b, '"', ':')
}

func (o *object) str(k, v string) {
	if v != "" {
		o.key(k)
		o.b = appendString(o.b, v)
	}
}

func (o *object) strAlways(k, v string) {
	o.key(k)
	o.b = appendString(o.b, v)
}

func (o *object) uint(k string, v uint64, always bool) {
	if v != 0 || always {
		o.key(k)
		o.b = strconv.AppendUint(o.b, v, 10)
	}
}

func (o *object) int(k string, v int) {
	o.key(k)
	o.b = strconv.AppendInt(o.b, int64(v), 10)
}

func (o *object) strs(k string, v []string) {
	if len(v) == 0 {
		return
	}
	o.key(k)
	o.b = append(o.b, '[')
	for i, s := range v {
		if i > 0 {
			o.b = append(o.b, ',')
		}
		o.b = appendString(o.b, s)
	}
	o.b = append(o.b, ']')
}

func (o *object) raw(k string, v []byte) {
	if len(v) != 0 {
		o.key(k)
		o.b = append(o.b, v...)
	}
}

func (o *object) time(k string, t time.Time) {
	o.key(k)
	o.b = append(o.b, '"')
	o.b = t.UTC().AppendFormat(o.b, time.RFC3339Nano)
	o.b = append(o.b, '"')
}

func (o *object) end() []byte {
	if o.n == 0 {
		return append(o.b, '{', '}')
	}
	return append(o.b, '}')
}

// appendRecord appends the canonical encoding of r, with or without its
// hash member. r.Args must already be canonical.
func appendRecord(b []byte, r *Record, withHash bool) []byte {
	b, _ = appendRecordHash(b, r, withHash)
	return b
}

// appendRecordAt appends r without its hash member and returns the offset
// at which the hash member belongs.
func appendRecordAt(b []byte, r *Record) ([]byte, int) {
	return appendRecordHash(b, r, false)
}

func appendRecordHash(b []byte, r *Record, withHash bool) ([]byte, int) {
	o := object{b: b}
	o.str("action", r.Action)
	o.str("agent", r.Agent)
	o.raw("args", r.Args)
	o.uint("count", r.Count, false)
	o.str("credential", r.Credential)
	o.str("decision", r.Decision)
	o.str("decision_id", r.DecisionID)
	o.strs("delegation", r.Delegation)
	o.str("event", r.Event)
	o.str("grant_id", r.GrantID)
	at := len(o.b)
	if o.n == 0 {
		at++ // after the '{' that the next member writes
	}
	if withHash {
		o.strAlways("hash", r.Hash)
	}
	o.str("instance", r.Instance)
	o.strAlways("kind", string(r.Kind))
	o.str("namespace", r.Namespace)
	o.str("object", r.Object)
	o.str("on_behalf_of", r.OnBehalfOf)
	o.strs("policies", r.Policies)
	o.strAlways("prev", r.Prev)
	o.str("reason", r.Reason)
	o.str("revision", r.Revision)
	o.uint("seq", r.Seq, true)
	o.str("session_id", r.SessionID)
	o.str("span_id", r.SpanID)
	o.str("task_id", r.TaskID)
	o.time("time", r.Time)
	o.str("tool", r.Tool)
	o.str("trace_id", r.TraceID)
	o.int("v", r.Version)
	return o.end(), at
}
