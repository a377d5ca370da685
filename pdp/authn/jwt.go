package authn

import (
	"encoding/base64"
	"encoding/json"
	"math"
	"strings"
	"time"
)

// unverifiedTimes returns the `exp` and `iat` claims of a JWT without
// verifying anything; each is zero when absent or malformed. Before the
// apiserver has accepted the token, exp only bounds how long a TokenReview
// result is cached (a forged exp can only shorten that: the TTL caps it); it
// is never a reason to accept a token.
func unverifiedTimes(token string) (exp, iat time.Time) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 || len(parts[1]) > MaxTokenBytes {
		return time.Time{}, time.Time{}
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return time.Time{}, time.Time{}
	}
	var claims struct {
		Exp *json.Number `json:"exp"`
		Iat *json.Number `json:"iat"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		return time.Time{}, time.Time{}
	}
	return numericDate(claims.Exp), numericDate(claims.Iat)
}

// numericDate converts an RFC 7519 NumericDate; zero if invalid.
func numericDate(n *json.Number) time.Time {
	if n == nil {
		return time.Time{}
	}
	f, err := n.Float64()
	if err != nil || math.IsNaN(f) || f < 0 || f > 1<<40 {
		return time.Time{}
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9))
}

// isJWS reports whether token has the shape of a signed JWT (JWS compact
// serialisation with a JSON header naming an algorithm other than "none").
// ServiceAccount tokens always do; anything else is refused without asking
// the apiserver.
func isJWS(token string) bool {
	parts := strings.Split(token, ".")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return false
	}
	header, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return false
	}
	var h struct {
		Alg string `json:"alg"`
	}
	if err := json.Unmarshal(header, &h); err != nil {
		return false
	}
	return h.Alg != "" && !strings.EqualFold(h.Alg, "none")
}
