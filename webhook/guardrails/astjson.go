package guardrails

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/open-policy-agent/opa/v1/ast"
)

// pathTrie is a set of JSON paths: a node with leaf set needs its whole
// subtree; otherwise only the listed children are needed.
type pathTrie struct {
	leaf     bool
	children map[string]*pathTrie
}

func (t *pathTrie) add(path []string) {
	for _, k := range path {
		if t.leaf {
			return
		}
		if t.children == nil {
			t.children = map[string]*pathTrie{}
		}
		c := t.children[k]
		if c == nil {
			c = &pathTrie{}
			t.children[k] = c
		}
		t = c
	}
	t.leaf, t.children = true, nil
}

var wholeTrie = &pathTrie{leaf: true}

// jsonToAST parses one JSON value straight into an OPA AST value, keeping
// only the parts in need (nil keeps everything). Skipped parts are not
// converted at all, which is where most of the cost of a Rego input lies.
func jsonToAST(b []byte, need *pathTrie) (ast.Value, error) {
	// The object comes from the API server (or was already decoded into
	// its typed form, which rejects duplicates), so skip the duplicate-name
	// bookkeeping.
	dec := jsontext.NewDecoder(bytes.NewBuffer(b), jsontext.AllowDuplicateNames(true)) // a *bytes.Buffer is parsed in place, without a copy
	if need == nil {
		need = wholeTrie
	}
	v, err := readAST(dec, need)
	if err != nil {
		return nil, err
	}
	if _, err := dec.ReadToken(); err == nil {
		return nil, fmt.Errorf("trailing data after the JSON value")
	}
	return v, nil
}

func readAST(dec *jsontext.Decoder, need *pathTrie) (ast.Value, error) {
	var elem *pathTrie // what to keep of each array element
	if !need.leaf {
		switch dec.PeekKind() {
		case '{':
		case '[':
			if elem = need.children[anyElem]; elem == nil {
				need = wholeTrie // a key path into an array: keep it whole
			}
		default:
			need = wholeTrie // a path into a scalar: keep it
		}
	}
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
			name := k.String()
			child := need
			if !need.leaf {
				named, star := need.children[name], need.children[anyElem]
				switch {
				case named != nil && star != nil:
					child = wholeTrie // both a named path and an iteration: keep it
				case named != nil:
					child = named
				case star != nil:
					child = star
				default:
					if err := dec.SkipValue(); err != nil {
						return nil, err
					}
					continue
				}
			}
			v, err := readAST(dec, child)
			if err != nil {
				return nil, err
			}
			obj.Insert(ast.StringTerm(name), ast.NewTerm(v))
		}
		if _, err := dec.ReadToken(); err != nil {
			return nil, err
		}
		return obj, nil
	case '[':
		terms := make([]*ast.Term, 0, 4)
		if elem == nil {
			elem = need
		}
		for dec.PeekKind() != ']' {
			v, err := readAST(dec, elem)
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
