package audit

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path"
	"regexp"
	"strings"
	"unicode/utf8"
)

// Redaction modes.
const (
	// RedactMask replaces a value with "[REDACTED]".
	RedactMask = "mask"
	// RedactHash replaces a value with "hmac-sha256:" and the hex of the
	// first 16 bytes of HMAC-SHA256(key, canonical JSON of the value), so
	// that equal values can still be correlated without being revealed.
	RedactHash = "hash"
)

// Redacted is what a masked value becomes.
const Redacted = "[REDACTED]"

// DefaultRedactKeys are member-name patterns whose values are always
// redacted, whatever the rules say: credentials and the prompts and system
// instructions of GenAI calls (AG-SEC-211).
var DefaultRedactKeys = []string{
	"authorization", "proxy-authorization", "cookie", "set-cookie",
	"*token*", "*secret*", "*password*", "*passwd*", "*credential*",
	"*api_key*", "*apikey*", "*api-key*", "*private_key*", "*privatekey*",
	"*prompt*", "*instructions*", "gen_ai.input.messages", "gen_ai.output.messages",
}

// Values that look like credentials are masked in every string of a record,
// not only in Args: bearer and basic authorization values, and JWTs.
var (
	// A scheme word followed by a token-like word: 20 or more token
	// characters, or any containing a digit or one of + / _ ~ - (so that
	// prose such as "basic checks" survives).
	authValueRE = regexp.MustCompile(`(?i)\b(bearer|basic)\s+(?:[A-Za-z0-9._~+/-]{20,}|[A-Za-z0-9._~+/-]*[0-9+/_~-][A-Za-z0-9._~+/-]*)=*`)
	jwtRE       = regexp.MustCompile(`eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*`)
)

// RedactionRules say which parts of a record's Args to redact, on top of
// DefaultRedactKeys and the credential detectors. The JSON form can be
// embedded in a bundle.
type RedactionRules struct {
	// Keys are case-insensitive glob patterns (path.Match syntax) for member
	// names whose values are redacted wherever they appear, e.g. "*ssn*".
	Keys []string `json:"keys,omitempty"`
	// Paths are JSON Pointers (RFC 6901) into Args whose values are
	// redacted; a "*" segment matches any member or array element, e.g.
	// "/input/messages" or "/headers/*".
	Paths []string `json:"paths,omitempty"`
	// Values are RE2 regular expressions; every match inside a string of
	// Args is redacted (e.g. e-mail addresses, card numbers).
	Values []string `json:"values,omitempty"`
	// Mode is RedactMask (the default) or RedactHash.
	Mode string `json:"mode,omitempty"`
}

// Redactor applies RedactionRules. It is safe for concurrent use.
type Redactor struct {
	keys    []keyPattern
	paths   [][]string
	values  []*regexp.Regexp
	hashKey []byte
}

// NewRedactor compiles rules. hashKey is required (at least 16 bytes) for
// RedactHash and ignored otherwise.
func NewRedactor(rules RedactionRules, hashKey []byte) (*Redactor, error) {
	r := &Redactor{}
	switch rules.Mode {
	case "", RedactMask:
	case RedactHash:
		if len(hashKey) < 16 {
			return nil, errors.New("redaction mode hash needs a key of at least 16 bytes")
		}
		r.hashKey = append([]byte(nil), hashKey...)
	default:
		return nil, fmt.Errorf("redaction mode %q: want %q or %q", rules.Mode, RedactMask, RedactHash)
	}
	for _, k := range append(append([]string(nil), DefaultRedactKeys...), rules.Keys...) {
		k = strings.ToLower(k)
		if _, err := path.Match(k, ""); err != nil {
			return nil, fmt.Errorf("redaction key pattern %q: %w", k, err)
		}
		r.keys = append(r.keys, compileKeyPattern(k))
	}
	for _, p := range rules.Paths {
		segs, err := parsePointer(p)
		if err != nil {
			return nil, fmt.Errorf("redaction path %q: %w", p, err)
		}
		r.paths = append(r.paths, segs)
	}
	for _, v := range rules.Values {
		re, err := regexp.Compile(v)
		if err != nil {
			return nil, fmt.Errorf("redaction value pattern %q: %w", v, err)
		}
		r.values = append(r.values, re)
	}
	return r, nil
}

// parsePointer splits an RFC 6901 JSON Pointer into unescaped segments.
func parsePointer(p string) ([]string, error) {
	if p == "" {
		return nil, errors.New("empty pointer (redacting the whole value is not a path)")
	}
	if p[0] != '/' {
		return nil, errors.New("a JSON Pointer starts with '/'")
	}
	segs := strings.Split(p[1:], "/")
	for i, s := range segs {
		segs[i] = strings.ReplaceAll(strings.ReplaceAll(s, "~1", "/"), "~0", "~")
	}
	return segs, nil
}

// RedactArgs returns the canonical JSON of args with the rules applied.
func (r *Redactor) RedactArgs(args []byte) ([]byte, error) {
	return canonicalJSON(args, r)
}

func (r *Redactor) keyMatch(k string) bool {
	for i := 0; i < len(k); i++ {
		if c := k[i]; c >= utf8.RuneSelf || ('A' <= c && c <= 'Z') {
			k = strings.ToLower(k)
			break
		}
	}
	for _, p := range r.keys {
		if p.match(k) {
			return true
		}
	}
	return false
}

// keyPattern is a lower-case path.Match pattern, with the common shapes
// "*word*" and "word" matched without the glob machinery.
type keyPattern struct {
	glob     string
	contains string
	exact    string
}

func compileKeyPattern(p string) keyPattern {
	inner := strings.TrimSuffix(strings.TrimPrefix(p, "*"), "*")
	if !strings.ContainsAny(inner, `*?[\`) {
		switch {
		case p == inner:
			return keyPattern{exact: p}
		case len(p) == len(inner)+2:
			return keyPattern{contains: inner}
		}
	}
	return keyPattern{glob: p}
}

func (p keyPattern) match(k string) bool {
	switch {
	case p.exact != "":
		return k == p.exact
	case p.contains != "":
		return strings.Contains(k, p.contains)
	}
	ok, _ := path.Match(p.glob, k)
	return ok
}

func (r *Redactor) pathMatch(at []string) bool {
	for _, p := range r.paths {
		if len(p) != len(at) {
			continue
		}
		ok := true
		for i := range p {
			if p[i] != "*" && p[i] != at[i] {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

func (r *Redactor) hash(b []byte) string {
	m := hmac.New(sha256.New, r.hashKey)
	m.Write(b)
	return "hmac-sha256:" + hex.EncodeToString(m.Sum(nil)[:16])
}

// scrub redacts the parts of s that match the value patterns or look like
// credentials.
func (r *Redactor) scrub(s string) string {
	s = scrubCredentials(s)
	for _, re := range r.values {
		s = re.ReplaceAllStringFunc(s, func(m string) string {
			if r.hashKey == nil {
				return Redacted
			}
			return r.hash(appendString(nil, m))
		})
	}
	return s
}

// scrubCredentials masks authorization values and JWTs in s.
func scrubCredentials(s string) string {
	jwt, auth := credentialHints(s)
	if jwt {
		s = jwtRE.ReplaceAllLiteralString(s, Redacted)
	}
	if auth {
		s = authValueRE.ReplaceAllString(s, "$1 "+Redacted)
	}
	return s
}

// credentialHints reports in one pass whether s contains "eyJ" (a JWT
// header) or, in any case, "bearer" or "basic"; only then do the regular
// expressions run.
func credentialHints(s string) (jwt, auth bool) {
	for i := 0; i+3 <= len(s); i++ {
		switch s[i] | 0x20 {
		case 'e':
			if s[i] == 'e' && s[i+1] == 'y' && s[i+2] == 'J' {
				jwt = true
			}
		case 'b':
			if i+5 <= len(s) && hasFold(s[i+1:], "asic") || i+6 <= len(s) && hasFold(s[i+1:], "earer") {
				auth = true
			}
		}
	}
	return jwt, auth
}

// hasFold reports whether s starts with the lower-case ASCII word w in any
// case.
func hasFold(s, w string) bool {
	if len(s) < len(w) {
		return false
	}
	for j := 0; j < len(w); j++ {
		if s[j]|0x20 != w[j] {
			return false
		}
	}
	return true
}
