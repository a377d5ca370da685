package pdp

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/cedar-policy/cedar-go/types"
	"github.com/cedar-policy/cedar-go/x/exp/schema/resolved"
)

// explainInvalid turns cedar-go's request validation error into one that
// names the field at fault, where it can find one: a principal or resource
// type the action does not apply to, or a context attribute the schema does
// not declare. Otherwise it returns err as is.
func explainInvalid(s *resolved.Schema, req types.Request, err error) error {
	act, ok := s.Actions[req.Action]
	if !ok || act.AppliesTo == nil {
		return &RequestError{Field: "action.name", Err: fmt.Errorf("action %s applies to no principal and resource", req.Action)}
	}
	at := act.AppliesTo
	if !slices.Contains(at.Principals, req.Principal.Type) {
		return &RequestError{Field: "subject.type", Err: fmt.Errorf("action %s does not apply to principals of type %s (it applies to %s)", req.Action, req.Principal.Type, typeList(at.Principals))}
	}
	if !slices.Contains(at.Resources, req.Resource.Type) {
		return &RequestError{Field: "resource.type", Err: fmt.Errorf("action %s does not apply to resources of type %s (it applies to %s)", req.Action, req.Resource.Type, typeList(at.Resources))}
	}
	if f := undeclared(at.Context, req.Context, ""); f != "" {
		return &RequestError{Field: f, Err: fmt.Errorf("not declared in the schema's context for %s", req.Action)}
	}
	return &RequestError{Field: "request", Err: err}
}

// undeclared finds the first attribute of rec (in name order) that rt does
// not declare, descending into records, and returns its path in AuthZEN
// terms ("context.user", "subject.properties.x").
func undeclared(rt resolved.RecordType, rec types.Record, prefix string) string {
	for _, k := range slices.Sorted(maps.Keys(rec.Map())) {
		path := prefix + string(k)
		if prefix == "" {
			path = authzenField(string(k))
		}
		attr, ok := rt[k]
		if !ok {
			return path
		}
		v, _ := rec.Get(k)
		sub, isRec := v.(types.Record)
		subType, isRecType := attr.Type.(resolved.RecordType)
		if isRec && isRecType {
			if f := undeclared(subType, sub, path+"."); f != "" {
				return f
			}
		}
	}
	return ""
}

// authzenField names a top-level Cedar context key in AuthZEN terms.
func authzenField(k string) string {
	switch k {
	case ContextSubject:
		return "subject.properties"
	case ContextResource:
		return "resource.properties"
	case ContextAction:
		return "action.properties"
	case ContextRequest:
		return "context"
	}
	return "context." + k
}

func typeList(ts []types.EntityType) string {
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = string(t)
	}
	return strings.Join(s, ", ")
}
