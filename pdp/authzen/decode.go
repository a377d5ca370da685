package authzen

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/agentguard/agentguard/internal/httpx"
	"github.com/agentguard/agentguard/pdp"
)

// decode parses a request body into v. Unknown members are ignored, as
// AuthZEN §JSON Serialization requires; the top level must be one object.
// Member names match exactly (JSON is case-sensitive); duplicate names and
// invalid UTF-8 are refused, so that no two readers of a request can see
// different values. It is encoding/json v2 (github.com/go-json-experiment),
// which decodes a request in half the time of encoding/json.
func decode(body []byte, v any) error {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return httpx.Errorf(http.StatusBadRequest, "request body must be a JSON object")
	}
	if err := jsonv2.Unmarshal(body, v); err != nil {
		return httpx.Errorf(http.StatusBadRequest, "%s", jsonProblem(body, err))
	}
	return nil
}

// jsonProblem words a decoding error for the caller, naming the member.
func jsonProblem(body []byte, err error) string {
	var se *jsontext.SyntacticError
	var te *jsonv2.SemanticError
	switch {
	case errors.As(err, &se):
		if off := se.ByteOffset; off > 0 && off <= int64(len(body)) && jsontext.Value(bytes.TrimSpace(body[:off])).IsValid() {
			return "unexpected data after the JSON object"
		}
		if errors.Is(se.Err, io.ErrUnexpectedEOF) {
			return "malformed JSON: unexpected end of input"
		}
		msg := "malformed JSON at byte " + fmt.Sprint(se.ByteOffset)
		if p := member(se.JSONPointer); p != "" {
			msg += " (" + p + ")"
		}
		return msg + ": " + strings.TrimPrefix(se.Err.Error(), "jsontext: ")
	case errors.As(err, &te):
		field := member(te.JSONPointer)
		if te.JSONKind != 0 && te.GoType != nil {
			if field == "" {
				return fmt.Sprintf("wrong JSON type: got %s, want %s", kindName(te.JSONKind), goKind(te.GoType.Kind().String()))
			}
			return fmt.Sprintf("%s: got JSON %s, want %s", field, kindName(te.JSONKind), goKind(te.GoType.Kind().String()))
		}
		if field != "" {
			return field + ": " + strings.TrimPrefix(te.Err.Error(), "json: ")
		}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "malformed JSON: unexpected end of input"
	}
	return "malformed JSON: " + strings.TrimPrefix(err.Error(), "json: ")
}

// member turns a JSON pointer (/subject/id) into a dotted name (subject.id).
func member(p jsontext.Pointer) string {
	var names []string
	for tok := range p.Tokens() {
		names = append(names, tok)
	}
	return strings.Join(names, ".")
}

func kindName(k jsontext.Kind) string {
	switch k {
	case 'n':
		return "null"
	case 't', 'f':
		return "boolean"
	case '"':
		return "string"
	case '0':
		return "number"
	case '{':
		return "object"
	case '[':
		return "array"
	}
	return k.String()
}

func goKind(kind string) string {
	switch kind {
	case "string":
		return "string"
	case "struct", "map":
		return "object"
	case "slice":
		return "array"
	}
	return kind
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
