package pdp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/cedar-policy/cedar-go/types"
	"github.com/go-json-experiment/json/jsontext"
)

// Request is an authorization request in the AuthZEN 1.0 information model
// (subject, action, resource, context). Properties and Context are JSON
// objects in Cedar's JSON value format: strings, integers, booleans, arrays,
// objects, and the `__entity` / `__extn` escapes for entity references and
// extension values (ip, decimal, datetime, duration).
type Request struct {
	Subject  Entity          `json:"subject"`
	Action   Action          `json:"action"`
	Resource Entity          `json:"resource"`
	Context  json.RawMessage `json:"context,omitempty"`
}

// Entity is an AuthZEN subject or resource.
type Entity struct {
	Type       string          `json:"type"`
	ID         string          `json:"id"`
	Properties json.RawMessage `json:"properties,omitempty"`
}

// Action is an AuthZEN action.
type Action struct {
	Name       string          `json:"name"`
	Properties json.RawMessage `json:"properties,omitempty"`
}

// Cedar context keys set by the PDP. Callers' data lands under the last four
// and can never overwrite an entity attribute or the PDP's clock.
const (
	ContextNow      = "now"      // the PDP's clock, a Cedar datetime
	ContextSubject  = "subject"  // AuthZEN subject.properties
	ContextResource = "resource" // AuthZEN resource.properties
	ContextAction   = "action"   // AuthZEN action.properties
	ContextRequest  = "request"  // AuthZEN context
)

// cedarRequest maps r to a Cedar request with m; now becomes context.now.
func (m *Mapping) cedarRequest(r *Request, now time.Time) (types.Request, error) {
	if r.Subject.Type == "" {
		return types.Request{}, badRequest("subject.type", "required")
	}
	if r.Subject.ID == "" {
		return types.Request{}, badRequest("subject.id", "required")
	}
	if r.Action.Name == "" {
		return types.Request{}, badRequest("action.name", "required")
	}
	if r.Resource.Type == "" {
		return types.Request{}, badRequest("resource.type", "required")
	}
	if r.Resource.ID == "" {
		return types.Request{}, badRequest("resource.id", "required")
	}
	st, ok := m.SubjectTypes[r.Subject.Type]
	if !ok {
		return types.Request{}, badRequest("subject.type", "unknown subject type %q (the bundle maps %s)", r.Subject.Type, keys(m.SubjectTypes))
	}
	rt, ok := m.ResourceTypes[r.Resource.Type]
	if !ok {
		return types.Request{}, badRequest("resource.type", "unknown resource type %q (the bundle maps %s)", r.Resource.Type, keys(m.ResourceTypes))
	}
	act, ok := m.Actions[r.Action.Name]
	if !ok {
		return types.Request{}, badRequest("action.name", "unknown action %q (the bundle maps %s)", r.Action.Name, keys(m.Actions))
	}

	ctx := scratchMap()
	defer putScratchMap(ctx)
	ctx[ContextNow] = types.NewDatetime(now)
	for _, part := range []struct {
		key, field string
		raw        json.RawMessage
	}{
		{ContextSubject, "subject.properties", r.Subject.Properties},
		{ContextResource, "resource.properties", r.Resource.Properties},
		{ContextAction, "action.properties", r.Action.Properties},
		{ContextRequest, "context", r.Context},
	} {
		rec, present, err := record(part.raw)
		if err != nil {
			return types.Request{}, badRequest(part.field, "%v", err)
		}
		if present {
			ctx[types.String(part.key)] = rec
		}
	}
	return types.Request{
		Principal: types.NewEntityUID(st, types.String(r.Subject.ID)),
		Action:    types.NewEntityUID(actionType(act), types.String(actionID(act))),
		Resource:  types.NewEntityUID(rt, types.String(r.Resource.ID)),
		Context:   types.NewRecord(ctx),
	}, nil
}

// record decodes a JSON object into a Cedar record. Absent, null and empty
// objects are "not present", so optional context attributes stay absent.
func record(raw json.RawMessage) (types.Record, bool, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) || bytes.Equal(raw, []byte("{}")) {
		return types.Record{}, false, nil
	}
	if raw[0] != '{' {
		return types.Record{}, false, fmt.Errorf("must be a JSON object")
	}
	if rec, ok := flatRecord(raw); ok {
		return rec, rec.Len() > 0, nil
	}
	var rec types.Record
	if err := rec.UnmarshalJSON(raw); err != nil {
		return types.Record{}, false, fmt.Errorf("not a value Cedar can hold (strings, integers, booleans, arrays, objects; no null or fractions): %w", err)
	}
	return rec, true, nil
}

// scratchMaps hold the maps records are built in: types.NewRecord copies
// its map, so the one it was given is free again once it returns.
var scratchMaps = sync.Pool{New: func() any { return make(types.RecordMap, 8) }}

func scratchMap() types.RecordMap { return scratchMaps.Get().(types.RecordMap) }

func putScratchMap(m types.RecordMap) {
	if len(m) > 8 {
		return // a large one would keep its memory in the pool
	}
	clear(m)
	scratchMaps.Put(m)
}

// decoders are reused jsontext decoders for flatRecord.
var decoders = sync.Pool{New: func() any {
	fd := &flatDecoder{}
	fd.dec = jsontext.NewDecoder(&fd.rd)
	return fd
}}

type flatDecoder struct {
	rd  bytes.Reader
	dec *jsontext.Decoder
}

// flatRecord decodes the common shape of a context or properties object,
// members whose values are all strings or booleans, without cedar-go's
// reflection-driven decoder (a third of the cost). Anything else (numbers,
// nesting, "__entity"/"__extn" escapes, malformed input) reports !ok, and
// record falls back to cedar-go, so the result is always the one cedar-go
// gives (FuzzFlatRecord checks that).
func flatRecord(raw []byte) (types.Record, bool) {
	fd := decoders.Get().(*flatDecoder)
	defer decoders.Put(fd)
	fd.rd.Reset(raw)
	fd.dec.Reset(&fd.rd)
	if tok, err := fd.dec.ReadToken(); err != nil || tok.Kind() != '{' {
		return types.Record{}, false
	}
	m := scratchMap()
	defer putScratchMap(m)
	for fd.dec.PeekKind() != '}' {
		k, err := fd.dec.ReadToken()
		if err != nil || k.Kind() != '"' {
			return types.Record{}, false
		}
		name := k.String()
		if strings.HasPrefix(name, "__") {
			return types.Record{}, false
		}
		v, err := fd.dec.ReadToken()
		if err != nil {
			return types.Record{}, false
		}
		switch v.Kind() {
		case '"':
			m[types.String(name)] = types.String(v.String())
		case 't', 'f':
			m[types.String(name)] = types.Boolean(v.Bool())
		default:
			return types.Record{}, false
		}
	}
	if _, err := fd.dec.ReadToken(); err != nil {
		return types.Record{}, false
	}
	if _, err := fd.dec.ReadToken(); !errors.Is(err, io.EOF) {
		return types.Record{}, false // trailing data
	}
	if len(m) == 0 {
		return types.Record{}, true
	}
	return types.NewRecord(m), true
}
