// Package httpx holds the hardening every agentguard HTTP boundary shares:
// body size limits, content-type checks, JSON error bodies, request ids and
// panic recovery. Errors are mapped to status codes here, in one place.
package httpx

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"runtime/debug"

	"github.com/agentguard/agentguard/internal/ids"
)

// MaxBodyBytes is the default request body limit (1 MiB).
const MaxBodyBytes = 1 << 20

// Error is an error with an HTTP status. Handlers return it for problems the
// caller can fix (4xx); anything else becomes a 500.
type Error struct {
	Status  int
	Message string
}

func (e *Error) Error() string { return e.Message }

// Errorf returns an *Error with the given status.
func Errorf(status int, format string, args ...any) *Error {
	return &Error{Status: status, Message: fmt.Sprintf(format, args...)}
}

// ErrorBody is the JSON body of every error response.
type ErrorBody struct {
	Error     string `json:"error"`
	Status    int    `json:"status"`
	RequestID string `json:"request_id,omitempty"`
}

// WriteJSON writes v as JSON with the given status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// WriteError writes err as a JSON error body. An *Error keeps its status;
// any other error is a 500 whose details are not shown to the caller.
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
	status, msg := http.StatusInternalServerError, "internal error"
	var he *Error
	if errors.As(err, &he) {
		status, msg = he.Status, he.Message
	}
	WriteJSON(w, status, ErrorBody{Error: msg, Status: status, RequestID: EnsureRequestID(w, r)})
}

// ReadJSONBody checks the method, the content type and the size of a JSON
// request body and returns it. Failures are *Error values with 405, 415,
// 413 or 400.
func ReadJSONBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return nil, Errorf(http.StatusMethodNotAllowed, "method %s not allowed: use POST", r.Method)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return nil, Errorf(http.StatusUnsupportedMediaType, "content type %q not supported: use application/json", ct)
		}
	}
	var body []byte
	var err error
	if n := r.ContentLength; n >= 0 && n <= limit {
		// Known length within the limit: one allocation, no growing.
		body = make([]byte, n)
		_, err = io.ReadFull(r.Body, body)
		if err == nil {
			var extra [1]byte
			if m, _ := r.Body.Read(extra[:]); m > 0 {
				err = fmt.Errorf("body longer than its Content-Length")
			}
		}
	} else {
		body, err = io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	}
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, Errorf(http.StatusRequestEntityTooLarge, "request body larger than %d bytes", limit)
		}
		return nil, Errorf(http.StatusBadRequest, "read request body: %v", err)
	}
	return body, nil
}

// RequestID returns the request's id: the caller's X-Request-ID, or the
// one EnsureRequestID made; "" if neither.
func RequestID(r *http.Request) string {
	if r == nil {
		return ""
	}
	return r.Header.Get(requestIDHeader)
}

// EnsureRequestID returns the request's id, making one when the caller
// sent none, and sets it on the response. Errors call it: their body and
// the log line carry the same id.
func EnsureRequestID(w http.ResponseWriter, r *http.Request) string {
	if r == nil {
		return ""
	}
	if id := RequestID(r); id != "" {
		return id
	}
	vals := []string{ids.New()}
	r.Header[requestIDHeader] = vals
	if w != nil {
		w.Header()[requestIDHeader] = vals
	}
	return vals[0]
}

const requestIDHeader = "X-Request-Id" // canonical form of X-Request-ID

// WithRequestID echoes the caller's X-Request-ID (AuthZEN §Request
// Identification: the PEP makes request ids, the PDP returns them); an
// invalid one (empty, repeated, over 128 bytes) is dropped, and errors get
// a fresh one (EnsureRequestID). It also turns a panic into a 500 with the
// request id, logged with its stack, so that one bad request never takes
// the server down.
func WithRequestID(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if vals := r.Header[requestIDHeader]; len(vals) > 0 {
			if len(vals) == 1 && vals[0] != "" && len(vals[0]) <= 128 {
				w.Header()[requestIDHeader] = vals
			} else {
				delete(r.Header, requestIDHeader)
			}
		}
		defer func() {
			if v := recover(); v != nil {
				if err, ok := v.(error); ok && errors.Is(err, http.ErrAbortHandler) {
					panic(v)
				}
				log.ErrorContext(r.Context(), "panic in handler", "request_id", EnsureRequestID(w, r), "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				WriteError(w, r, fmt.Errorf("panic: %v", v))
			}
		}()
		next.ServeHTTP(w, r)
	})
}
