package authn

import (
	"net/http"
	"strings"
)

// MaxTokenBytes bounds bearer tokens. Kubernetes ServiceAccount tokens are
// around 1 KiB; anything this large is refused without asking anyone.
const MaxTokenBytes = 16 << 10

// BearerToken returns the token of the request's `Authorization: Bearer`
// header (RFC 6750 §2.1). It returns ErrNoCredentials without such a header
// and an ErrUnauthenticated error for a malformed one (several Authorization
// headers, an empty or oversized token, characters outside b64token).
func BearerToken(r *http.Request) (string, error) {
	vals := r.Header.Values("Authorization")
	if len(vals) == 0 {
		return "", ErrNoCredentials
	}
	if len(vals) > 1 {
		return "", unauthenticated("more than one Authorization header")
	}
	scheme, token, _ := strings.Cut(strings.TrimSpace(vals[0]), " ")
	if !strings.EqualFold(scheme, "Bearer") {
		// Another scheme (Basic, DPoP, ...) is not a credential we handle.
		return "", ErrNoCredentials
	}
	token = strings.TrimLeft(token, " ")
	switch {
	case token == "":
		return "", unauthenticated("empty bearer token")
	case len(token) > MaxTokenBytes:
		return "", unauthenticated("bearer token longer than %d bytes", MaxTokenBytes)
	case !isB64Token(token):
		return "", unauthenticated("malformed bearer token")
	}
	return token, nil
}

// isB64Token reports whether s matches RFC 6750's b64token:
// 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func isB64Token(s string) bool {
	i := 0
	for ; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/' {
			continue
		}
		break
	}
	if i == 0 {
		return false
	}
	for ; i < len(s); i++ {
		if s[i] != '=' {
			return false
		}
	}
	return true
}
