package authzen

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/agentguard/agentguard/internal/httpx"
	"github.com/agentguard/agentguard/pdp"
)

// decode parses a request body into v. Unknown members are ignored, as
// AuthZEN §JSON Serialization requires; the top level must be one object.
func decode(body []byte, v any) error {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return httpx.Errorf(http.StatusBadRequest, "request body must be a JSON object")
	}
	if err := json.Unmarshal(body, v); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) && isTrailingData(body, se) {
			return httpx.Errorf(http.StatusBadRequest, "unexpected data after the JSON object")
		}
		return httpx.Errorf(http.StatusBadRequest, "%s", jsonProblem(err))
	}
	return nil
}

// isTrailingData reports whether a syntax error comes after a complete
// top-level value (json.Unmarshal refuses trailing data that way).
func isTrailingData(body []byte, se *json.SyntaxError) bool {
	off := se.Offset - 1
	if off <= 0 || off > int64(len(body)) {
		return false
	}
	return json.Valid(bytes.TrimSpace(body[:off]))
}

// jsonProblem words a decoding error for the caller.
func jsonProblem(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("malformed JSON at byte %d: %v", se.Offset, se)
	case errors.As(err, &te):
		if te.Field == "" {
			return fmt.Sprintf("wrong JSON type: got %s, want %s", te.Value, te.Type)
		}
		return fmt.Sprintf("%s: got JSON %s, want %s", te.Field, te.Value, jsonKind(te.Type.Kind().String()))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "malformed JSON: unexpected end of input"
	}
	return "malformed JSON: " + err.Error()
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "string"
	case "struct", "map":
		return "object"
	case "slice":
		return "array"
	}
	return goKind
}

// evaluationRequest is the Access Evaluation request body (§6.1).
type evaluationRequest struct {
	Subject  *pdp.Entity     `json:"subject"`
	Action   *pdp.Action     `json:"action"`
	Resource *pdp.Entity     `json:"resource"`
	Context  json.RawMessage `json:"context"`
}

// request checks the required members and returns the engine's request.
// prefix names the position in an evaluations array, e.g. "evaluations[2].".
func (e *evaluationRequest) request(prefix string) (*pdp.Request, error) {
	switch {
	case e.Subject == nil:
		return nil, httpx.Errorf(http.StatusBadRequest, "%ssubject: required", prefix)
	case e.Action == nil:
		return nil, httpx.Errorf(http.StatusBadRequest, "%saction: required", prefix)
	case e.Resource == nil:
		return nil, httpx.Errorf(http.StatusBadRequest, "%sresource: required", prefix)
	}
	if err := checkObject(prefix+"context", e.Context); err != nil {
		return nil, err
	}
	for _, p := range []struct {
		name string
		raw  json.RawMessage
	}{
		{"subject.properties", e.Subject.Properties},
		{"action.properties", e.Action.Properties},
		{"resource.properties", e.Resource.Properties},
	} {
		if err := checkObject(prefix+p.name, p.raw); err != nil {
			return nil, err
		}
	}
	return &pdp.Request{Subject: *e.Subject, Action: *e.Action, Resource: *e.Resource, Context: e.Context}, nil
}

// checkObject accepts an absent member, null, or a JSON object.
func checkObject(name string, raw json.RawMessage) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] == '{' || bytes.Equal(raw, []byte("null")) {
		return nil
	}
	return httpx.Errorf(http.StatusBadRequest, "%s: must be a JSON object", name)
}
