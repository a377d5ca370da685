package authn

import (
	"errors"
	"fmt"
)

// ErrUnauthenticated means the request carries no credential, or one that
// does not prove an identity (invalid, expired, for another audience, bound
// to a pod that is gone, from an untrusted trust domain). HTTP 401.
var ErrUnauthenticated = errors.New("unauthenticated")

// ErrNoCredentials means the request carries no credential an
// Authenticator understands. It wraps ErrUnauthenticated; Chain tries the
// next authenticator on it.
var ErrNoCredentials = fmt.Errorf("%w: no credentials", ErrUnauthenticated)

// ErrUnavailable means the authority that decides whether a credential is
// valid (the kube-apiserver) could not be asked or did not answer. The
// credential may be fine; the caller should retry. HTTP 503.
var ErrUnavailable = errors.New("authentication unavailable")

// unauthenticated returns an error wrapping ErrUnauthenticated. reason must
// not contain the credential.
func unauthenticated(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrUnauthenticated, fmt.Sprintf(format, args...))
}

// unavailable returns an error wrapping ErrUnavailable.
func unavailable(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrUnavailable, fmt.Sprintf(format, args...))
}
