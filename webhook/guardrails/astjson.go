package webhook

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/open-policy-agent/opa/v1/ast"
)

// jsonToAST parses one JSON value straight into an OPA AST value, for the
// input of custom Rego rules, without the map[string]any detour.
func jsonToAST(b []byte) (ast.Value, error) {
	// The object comes from the API server (or was already decoded into
	// its typed form, which rejects duplicates), so skip the duplicate-name
	// bookkeeping.
	dec := jsontext.NewDecoder(bytes.NewReader(b), jsontext.AllowDuplicateNames(true))
	v, err := readAST(dec)
	if err != nil {
		return nil, err
	}
	if _, err := dec.ReadToken(); err == nil {
		return nil, fmt.Errorf("trailing data after the JSON value")
	}
	return v, nil
}

func readAST(dec *jsontext.Decoder) (ast.Value, error) {
	tok, err := dec.ReadToken()
	if err != nil {
		return nil, err
	}
	switch tok.Kind() {
	case 'n':
		return ast.NullValue, nil
	case 't', 'f':
		return ast.Boolean(tok.Bool()), nil
	case '"':
		return ast.String(tok.String()), nil
	case '0':
		return ast.Number(json.Number(tok.String())), nil
	case '{':
		obj := ast.NewObject()
		for dec.PeekKind() != '}' {
			k, err := dec.ReadToken()
			if err != nil {
				return nil, err
			}
			// A token is only valid until the next read.
			key := ast.StringTerm(k.String())
			v, err := readAST(dec)
			if err != nil {
				return nil, err
			}
			obj.Insert(key, ast.NewTerm(v))
		}
		if _, err := dec.ReadToken(); err != nil {
			return nil, err
		}
		return obj, nil
	case '[':
		terms := make([]*ast.Term, 0, 4)
		for dec.PeekKind() != ']' {
			v, err := readAST(dec)
			if err != nil {
				return nil, err
			}
			terms = append(terms, ast.NewTerm(v))
		}
		if _, err := dec.ReadToken(); err != nil {
			return nil, err
		}
		return ast.NewArray(terms...), nil
	}
	return nil, fmt.Errorf("unexpected JSON token %v", tok.Kind())
}
