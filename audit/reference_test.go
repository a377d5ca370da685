package audit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
)

// The tree-based reference implementation of canonicalization and
// redaction: encoding/json decodes, a walk redacts, appendValue encodes.
// canonicalJSON must agree with it on every input (FuzzCanonicalize).

func refCanonicalize(raw []byte, r *Redactor) ([]byte, error) {
	v, err := decodeJSON(raw)
	if err != nil {
		return nil, err
	}
	if r != nil {
		v = r.walk(v, nil)
	}
	return appendValue(nil, v)
}

// decodeJSON decodes one JSON value, keeping numbers as json.Number.
func decodeJSON(raw []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	if err := trailing(raw, dec); err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	return v, nil
}

// appendValue appends a value decoded by decodeJSON in canonical form.
func appendValue(b []byte, v any) ([]byte, error) {
	var err error
	switch v := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case bool:
		if v {
			return append(b, "true"...), nil
		}
		return append(b, "false"...), nil
	case string:
		return appendString(b, v), nil
	case json.Number:
		f, perr := strconv.ParseFloat(string(v), 64)
		if perr != nil {
			return b, fmt.Errorf("number %s: %w", v, perr)
		}
		return appendNumber(b, f)
	case []any:
		b = append(b, '[')
		for i, e := range v {
			if i > 0 {
				b = append(b, ',')
			}
			if b, err = appendValue(b, e); err != nil {
				return b, err
			}
		}
		return append(b, ']'), nil
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, compareUTF16)
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, k)
			b = append(b, ':')
			if b, err = appendValue(b, v[k]); err != nil {
				return b, err
			}
		}
		return append(b, '}'), nil
	default:
		return b, fmt.Errorf("unsupported JSON value %T", v)
	}
}

func (r *Redactor) walk(v any, at []string) any {
	if r.pathMatch(at) {
		return r.replace(v)
	}
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			if r.keyMatch(k) {
				v[k] = r.replace(e)
				continue
			}
			v[k] = r.walk(e, append(at, k))
		}
		return v
	case []any:
		for i, e := range v {
			v[i] = r.walk(e, append(at, strconv.Itoa(i)))
		}
		return v
	case string:
		return r.scrub(v)
	}
	return v
}

// replace is the redacted form of a whole value.
func (r *Redactor) replace(v any) any {
	if r.hashKey == nil {
		return Redacted
	}
	b, err := appendValue(nil, v)
	if err != nil {
		return Redacted
	}
	return r.hash(b)
}
