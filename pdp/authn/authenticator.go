package authn

import (
	"errors"
	"net/http"
)

// Authenticator proves who sent a request. It returns the caller's Identity,
// or an error wrapping ErrUnauthenticated (ErrNoCredentials when the request
// carries no credential of its kind) or ErrUnavailable. It never returns a
// nil Identity with a nil error.
type Authenticator interface {
	Authenticate(r *http.Request) (*Identity, error)
}

// AuthenticatorFunc adapts a function to Authenticator.
type AuthenticatorFunc func(r *http.Request) (*Identity, error)

// Authenticate calls f.
func (f AuthenticatorFunc) Authenticate(r *http.Request) (*Identity, error) { return f(r) }

var _ Authenticator = AuthenticatorFunc(nil)

// Chain returns an Authenticator that tries each of as in order and returns
// the first Identity. Like the kube-apiserver's union authenticator, a
// credential one authenticator refuses may still be accepted by the next (a
// static dev token is not a ServiceAccount token). If none succeeds, the
// result is ErrUnavailable if any authenticator was unavailable (the refused
// credential might have been valid), else the first refusal of a presented
// credential, else ErrNoCredentials.
func Chain(as ...Authenticator) Authenticator {
	as = append([]Authenticator(nil), as...)
	return AuthenticatorFunc(func(r *http.Request) (*Identity, error) {
		var unavail, refused error
		for _, a := range as {
			id, err := a.Authenticate(r)
			switch {
			case err == nil && id != nil:
				return id, nil
			case err == nil:
				if refused == nil {
					refused = unauthenticated("authenticator returned no identity")
				}
			case errors.Is(err, ErrNoCredentials):
			case errors.Is(err, ErrUnauthenticated):
				if refused == nil {
					refused = err
				}
			default:
				if unavail == nil {
					unavail = err
				}
			}
		}
		switch {
		case unavail != nil:
			return nil, unavail
		case refused != nil:
			return nil, refused
		}
		return nil, ErrNoCredentials
	})
}
