package audit

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// maxJSONDepth matches encoding/json's nesting limit.
const maxJSONDepth = 10000

// canonParser reads one JSON value and appends its RFC 8785 canonical form,
// applying a Redactor on the way, without building a tree: it is the
// writer's hot path for Args. It accepts exactly what encoding/json
// accepts and decodes strings the same way (invalid UTF-8 and lone
// surrogates become U+FFFD); the tests check it against a tree-based
// reference.
type canonParser struct {
	in    []byte
	pos   int
	r     *Redactor // nil: no redaction
	path  []string  // kept only when the redactor has paths
	depth int
	str   []byte     // scratch for decoding strings
	vals  []byte     // scratch for an object's member values
	mems  [][]member // member lists, reused per depth

	// keyCache remembers keyMatch results for cacheFor, since the same
	// member names come back record after record.
	keyCache map[string]bool
	cacheFor *Redactor
}

// maxKeyCache bounds keyCache; it starts over when full.
const maxKeyCache = 4096

func (p *canonParser) keyMatch(k string) bool {
	if p.cacheFor != p.r || len(p.keyCache) >= maxKeyCache {
		p.keyCache, p.cacheFor = make(map[string]bool, 64), p.r
	}
	m, ok := p.keyCache[k]
	if !ok {
		m = p.r.keyMatch(k)
		p.keyCache[k] = m
	}
	return m
}

var errSyntax = errors.New("invalid JSON")

func (p *canonParser) fail(what string) error {
	return fmt.Errorf("%w: %s at offset %d", errSyntax, what, p.pos)
}

func (p *canonParser) ws() {
	for p.pos < len(p.in) {
		switch p.in[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

// canonicalJSON parses all of in and returns its canonical form, redacted
// by r when r is not nil.
func canonicalJSON(in []byte, r *Redactor) ([]byte, error) {
	var p canonParser
	return p.run(in, r)
}

// run is canonicalJSON with p's scratch buffers, which the writer reuses
// from record to record.
func (p *canonParser) run(in []byte, r *Redactor) ([]byte, error) {
	p.in, p.pos, p.r, p.path, p.depth = in, 0, r, p.path[:0], 0
	defer func() {
		p.in = nil
		for i := range p.mems {
			clear(p.mems[i][:cap(p.mems[i])]) // drop key strings
		}
	}()
	p.ws()
	out, err := p.value(make([]byte, 0, len(in)), r != nil)
	if err != nil {
		return nil, err
	}
	p.ws()
	if p.pos != len(in) {
		return nil, p.fail("data after the value")
	}
	return out, nil
}

// value appends the canonical form of the value at p.pos. redact is false
// inside a subtree that is being replaced as a whole.
func (p *canonParser) value(out []byte, redact bool) ([]byte, error) {
	if p.pos >= len(p.in) {
		return out, p.fail("unexpected end")
	}
	if redact && len(p.r.paths) > 0 && p.r.pathMatch(p.path) {
		return p.replaced(out)
	}
	switch c := p.in[p.pos]; {
	case c == '{':
		return p.object(out, redact)
	case c == '[':
		return p.array(out, redact)
	case c == '"':
		s, err := p.string()
		if err != nil {
			return out, err
		}
		if redact {
			s = p.r.scrub(s)
		}
		return appendString(out, s), nil
	case c == '-' || ('0' <= c && c <= '9'):
		return p.number(out)
	case c == 't':
		return p.literal(out, "true")
	case c == 'f':
		return p.literal(out, "false")
	case c == 'n':
		return p.literal(out, "null")
	}
	return out, p.fail("unexpected character")
}

// replaced parses the value at p.pos and appends its redacted form.
func (p *canonParser) replaced(out []byte) ([]byte, error) {
	start := len(out)
	out, err := p.value(out, false)
	if err != nil {
		return out, err
	}
	if p.r.hashKey == nil {
		return appendString(out[:start], Redacted), nil
	}
	m := hmac.New(sha256.New, p.r.hashKey)
	m.Write(out[start:])
	return appendString(out[:start], "hmac-sha256:"+hex.EncodeToString(m.Sum(nil)[:16])), nil
}

func (p *canonParser) literal(out []byte, lit string) ([]byte, error) {
	if len(p.in)-p.pos < len(lit) || string(p.in[p.pos:p.pos+len(lit)]) != lit {
		return out, p.fail("invalid literal")
	}
	p.pos += len(lit)
	return append(out, lit...), nil
}

func (p *canonParser) number(out []byte) ([]byte, error) {
	start := p.pos
	if p.in[p.pos] == '-' {
		p.pos++
	}
	digits := func() int {
		n := 0
		for p.pos < len(p.in) && '0' <= p.in[p.pos] && p.in[p.pos] <= '9' {
			p.pos++
			n++
		}
		return n
	}
	switch {
	case p.pos < len(p.in) && p.in[p.pos] == '0':
		p.pos++
	case digits() == 0:
		return out, p.fail("invalid number")
	}
	if p.pos < len(p.in) && p.in[p.pos] == '.' {
		p.pos++
		if digits() == 0 {
			return out, p.fail("invalid number")
		}
	}
	if p.pos < len(p.in) && (p.in[p.pos] == 'e' || p.in[p.pos] == 'E') {
		p.pos++
		if p.pos < len(p.in) && (p.in[p.pos] == '+' || p.in[p.pos] == '-') {
			p.pos++
		}
		if digits() == 0 {
			return out, p.fail("invalid number")
		}
	}
	f, err := strconv.ParseFloat(string(p.in[start:p.pos]), 64)
	if err != nil {
		return out, fmt.Errorf("number %s: %w", p.in[start:p.pos], err)
	}
	return appendNumber(out, f)
}

func (p *canonParser) enter() error {
	p.depth++
	if p.depth > maxJSONDepth {
		return p.fail("nesting too deep")
	}
	return nil
}

func (p *canonParser) array(out []byte, redact bool) ([]byte, error) {
	if err := p.enter(); err != nil {
		return out, err
	}
	p.pos++ // [
	out = append(out, '[')
	p.ws()
	if p.pos < len(p.in) && p.in[p.pos] == ']' {
		p.pos++
		p.depth--
		return append(out, ']'), nil
	}
	track := redact && len(p.r.paths) > 0
	for i := 0; ; i++ {
		if i > 0 {
			out = append(out, ',')
		}
		if track {
			p.path = append(p.path, strconv.Itoa(i))
		}
		p.ws()
		var err error
		if out, err = p.value(out, redact); err != nil {
			return out, err
		}
		if track {
			p.path = p.path[:len(p.path)-1]
		}
		p.ws()
		if p.pos >= len(p.in) {
			return out, p.fail("unexpected end in array")
		}
		switch p.in[p.pos] {
		case ',':
			p.pos++
		case ']':
			p.pos++
			p.depth--
			return append(out, ']'), nil
		default:
			return out, p.fail("expected , or ] in array")
		}
	}
}

// member is an object member whose canonical value sits in a scratch
// buffer.
type member struct {
	key        string
	start, end int
}

func (p *canonParser) object(out []byte, redact bool) ([]byte, error) {
	if err := p.enter(); err != nil {
		return out, err
	}
	p.pos++ // {
	p.ws()
	if p.pos < len(p.in) && p.in[p.pos] == '}' {
		p.pos++
		p.depth--
		return append(out, '{', '}'), nil
	}
	// Values go after out, in the same buffer, then move into place sorted.
	base := len(out)
	for len(p.mems) < p.depth {
		p.mems = append(p.mems, nil)
	}
	members := p.mems[p.depth-1][:0]
	track := redact && len(p.r.paths) > 0
	for {
		p.ws()
		if p.pos >= len(p.in) || p.in[p.pos] != '"' {
			return out, p.fail("expected a member name")
		}
		key, err := p.string()
		if err != nil {
			return out, err
		}
		p.ws()
		if p.pos >= len(p.in) || p.in[p.pos] != ':' {
			return out, p.fail("expected :")
		}
		p.pos++
		p.ws()
		start := len(out)
		switch {
		case redact && p.keyMatch(key):
			out, err = p.replaced(out)
		case track:
			p.path = append(p.path, key)
			out, err = p.value(out, redact)
			p.path = p.path[:len(p.path)-1]
		default:
			out, err = p.value(out, redact)
		}
		if err != nil {
			return out, err
		}
		members = append(members, member{key: key, start: start, end: len(out)})
		p.ws()
		if p.pos >= len(p.in) {
			return out, p.fail("unexpected end in object")
		}
		if p.in[p.pos] == ',' {
			p.pos++
			continue
		}
		if p.in[p.pos] != '}' {
			return out, p.fail("expected , or } in object")
		}
		p.pos++
		p.depth--
		break
	}
	// Later duplicates win, as with encoding/json.
	slices.SortStableFunc(members, func(a, b member) int { return compareUTF16(a.key, b.key) })
	uniq := members[:0]
	for i, m := range members {
		if i+1 < len(members) && members[i+1].key == m.key {
			continue
		}
		uniq = append(uniq, m)
	}
	p.vals = append(p.vals[:0], out[base:]...)
	out = append(out[:base], '{')
	for i, m := range uniq {
		if i > 0 {
			out = append(out, ',')
		}
		out = appendString(out, m.key)
		out = append(out, ':')
		out = append(out, p.vals[m.start-base:m.end-base]...)
	}
	p.mems[p.depth] = members[:0]
	return append(out, '}'), nil
}

// string decodes the JSON string at p.pos as encoding/json does.
func (p *canonParser) string() (string, error) {
	p.pos++ // "
	start := p.pos
	// Fast path: no escapes, valid UTF-8.
	for p.pos < len(p.in) {
		c := p.in[p.pos]
		if c == '"' {
			s := p.in[start:p.pos]
			p.pos++
			if utf8.Valid(s) {
				return string(s), nil
			}
			p.pos = start
			break
		}
		if c == '\\' || c < 0x20 {
			break
		}
		p.pos++
	}
	p.pos = start
	b := p.str[:0]
	for {
		if p.pos >= len(p.in) {
			return "", p.fail("unterminated string")
		}
		c := p.in[p.pos]
		switch {
		case c == '"':
			p.pos++
			p.str = b
			return string(b), nil
		case c < 0x20:
			return "", p.fail("control character in string")
		case c == '\\':
			if p.pos+1 >= len(p.in) {
				return "", p.fail("unterminated string")
			}
			e := p.in[p.pos+1]
			p.pos += 2
			switch e {
			case '"', '\\', '/':
				b = append(b, e)
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				r, ok := p.hex4()
				if !ok {
					return "", p.fail("invalid \\u escape")
				}
				if utf16.IsSurrogate(r) {
					save := p.pos
					if p.pos+1 < len(p.in) && p.in[p.pos] == '\\' && p.in[p.pos+1] == 'u' {
						p.pos += 2
						if r2, ok := p.hex4(); ok {
							if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
								b = utf8.AppendRune(b, dec)
								continue
							}
						}
					}
					p.pos = save
					r = utf8.RuneError
				}
				b = utf8.AppendRune(b, r)
			default:
				return "", p.fail("invalid escape")
			}
		case c < utf8.RuneSelf:
			b = append(b, c)
			p.pos++
		default:
			r, size := utf8.DecodeRune(p.in[p.pos:])
			if r == utf8.RuneError && size == 1 {
				b = utf8.AppendRune(b, utf8.RuneError)
			} else {
				b = append(b, p.in[p.pos:p.pos+size]...)
			}
			p.pos += size
		}
	}
}

func (p *canonParser) hex4() (rune, bool) {
	if len(p.in)-p.pos < 4 {
		return 0, false
	}
	var r rune
	for _, c := range p.in[p.pos : p.pos+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	p.pos += 4
	return r, true
}
