package authn

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/agentguard/agentguard/internal/httpx"
)

// HTTPOptions configures Middleware and WriteError.
type HTTPOptions struct {
	// Realm is the realm of the WWW-Authenticate challenge. Default
	// "agentguard".
	Realm string
	// ResourceMetadata is the URL of the PDP's OAuth 2.0 Protected Resource
	// Metadata (RFC 9728 §5.1), sent as the challenge's resource_metadata
	// parameter when set (MCP authorization, AG-SEC-016). Default: none.
	ResourceMetadata string
	// RetryAfter is sent with 503 responses. Default 1s; rounded up to
	// whole seconds.
	RetryAfter time.Duration
	// OnError, when set, sees every failed authentication with its detailed
	// error (which never contains the credential), e.g. to log or count it.
	// The response only carries a generic message.
	OnError func(r *http.Request, err error)
}

func (o *HTTPOptions) setDefaults() {
	if o.Realm == "" {
		o.Realm = "agentguard"
	}
	if o.RetryAfter <= 0 {
		o.RetryAfter = time.Second
	}
}

// Middleware authenticates every request with a. On success the Identity is
// stored in the request context (see FromContext) and next is called; on
// failure next is not called and WriteError answers.
func Middleware(a Authenticator, opts HTTPOptions) func(http.Handler) http.Handler {
	opts.setDefaults()
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id, err := a.Authenticate(r)
			if err == nil && id == nil {
				err = unauthenticated("authenticator returned no identity")
			}
			if err != nil {
				if opts.OnError != nil {
					opts.OnError(r, err)
				}
				WriteError(w, r, err, opts)
				return
			}
			next.ServeHTTP(w, r.WithContext(NewContext(r.Context(), id)))
		})
	}
}

// HTTPStatus maps an authentication error to its HTTP status: 401 for
// ErrUnauthenticated, 503 for ErrUnavailable, 500 for anything else.
func HTTPStatus(err error) int {
	switch {
	case errors.Is(err, ErrUnauthenticated):
		return http.StatusUnauthorized
	case errors.Is(err, ErrUnavailable):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// WriteError answers a failed authentication with a JSON error body
// ({"error": ..., "status": ...}) and the status of HTTPStatus. A 401 carries
// an RFC 6750 §3 challenge: `Bearer realm="agentguard"` when no credential
// was presented (§3.1: no error code then), with `error="invalid_token"`
// when one was refused. A 503 carries Retry-After. The body never repeats
// err's details.
func WriteError(w http.ResponseWriter, r *http.Request, err error, opts HTTPOptions) {
	opts.setDefaults()
	status := HTTPStatus(err)
	var msg string
	switch status {
	case http.StatusUnauthorized:
		params := []string{"realm=" + quote(opts.Realm)}
		msg = "authentication required"
		if !errors.Is(err, ErrNoCredentials) {
			msg = "invalid credentials"
			params = append(params, `error="invalid_token"`, `error_description="the credential is invalid, expired or not for this audience"`)
		}
		if opts.ResourceMetadata != "" {
			params = append(params, "resource_metadata="+quote(opts.ResourceMetadata))
		}
		w.Header().Set("WWW-Authenticate", "Bearer "+strings.Join(params, ", "))
	case http.StatusServiceUnavailable:
		msg = "authentication temporarily unavailable"
		secs := int((opts.RetryAfter + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
	default:
		msg = "internal error"
	}
	w.Header().Set("Cache-Control", "no-store")
	httpx.WriteJSON(w, status, httpx.ErrorBody{Error: msg, Status: status, RequestID: httpx.EnsureRequestID(w, r)})
}

// quote renders s as an RFC 9110 quoted-string.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c == 0x7f:
			// Control characters cannot appear in a header value.
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}
