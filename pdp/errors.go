package pdp

import (
	"errors"
	"fmt"
)

// ErrBadRequest is wrapped by every error that a caller's request caused
// (unknown types or actions, values Cedar cannot hold, schema violations).
// The HTTP layer maps it to 400.
var ErrBadRequest = errors.New("bad request")

// RequestError is a problem with an authorization request. Field names the
// part of the request at fault, e.g. "subject.type" or "context.user".
type RequestError struct {
	Field string
	Err   error
}

func (e *RequestError) Error() string {
	if e.Field == "" {
		return e.Err.Error()
	}
	return fmt.Sprintf("%s: %v", e.Field, e.Err)
}

func (e *RequestError) Unwrap() []error { return []error{ErrBadRequest, e.Err} }

func badRequest(field, format string, args ...any) error {
	return &RequestError{Field: field, Err: fmt.Errorf(format, args...)}
}

// LoadError is a problem with a bundle: the file, and the line where known.
type LoadError struct {
	File string
	Line int
	Err  error
}

func (e *LoadError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.File, e.Err)
}

func (e *LoadError) Unwrap() error { return e.Err }
