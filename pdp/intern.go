package pdp

import (
	"github.com/cedar-policy/cedar-go/types"
)

// interner makes the equal strings of one bundle share memory: entity
// types, ids, attribute names and string values of the entities, and the
// entity types requests are mapped to. Go compares two strings by pointer
// before it compares bytes, so Cedar's comparisons of one entity reference
// with another (`resource.tenant == principal.tenant`, a set's `contains`,
// the entity store's key match) become pointer tests. It is a table per
// bundle, freed with the bundle, not the process-wide unique package:
// revisions come and go.
type interner map[string]string

func (in interner) str(s string) string {
	if c, ok := in[s]; ok {
		return c
	}
	in[s] = s
	return s
}

func (in interner) uid(u types.EntityUID) types.EntityUID {
	return types.NewEntityUID(types.EntityType(in.str(string(u.Type))), types.String(in.str(string(u.ID))))
}

// value returns v with its strings interned; values without strings are
// returned as they are.
func (in interner) value(v types.Value) types.Value {
	switch v := v.(type) {
	case types.String:
		return types.String(in.str(string(v)))
	case types.EntityUID:
		return in.uid(v)
	case types.Set:
		vals := make([]types.Value, 0, v.Len())
		for e := range v.All() {
			vals = append(vals, in.value(e))
		}
		return types.NewSet(vals...)
	case types.Record:
		return in.record(v)
	}
	return v
}

func (in interner) record(r types.Record) types.Record {
	if r.Len() == 0 {
		return r
	}
	m := make(types.RecordMap, r.Len())
	for k, v := range r.All() {
		m[types.String(in.str(string(k)))] = in.value(v)
	}
	return types.NewRecord(m)
}

func (in interner) entity(e types.Entity) types.Entity {
	out := types.Entity{UID: in.uid(e.UID), Attributes: in.record(e.Attributes), Tags: in.record(e.Tags)}
	if e.Parents.Len() > 0 {
		parents := make([]types.EntityUID, 0, e.Parents.Len())
		for p := range e.Parents.All() {
			parents = append(parents, in.uid(p))
		}
		out.Parents = types.NewEntityUIDSet(parents...)
	} else {
		out.Parents = e.Parents
	}
	return out
}

// entities returns m with every entity interned.
func (in interner) entities(m types.EntityMap) types.EntityMap {
	out := make(types.EntityMap, len(m))
	for _, e := range m {
		e = in.entity(e)
		out[e.UID] = e
	}
	return out
}

// mapping interns the entity types m maps AuthZEN types to.
func (in interner) mapping(m *Mapping) {
	for _, typeMap := range []map[string]types.EntityType{m.SubjectTypes, m.ResourceTypes} {
		for k, t := range typeMap {
			typeMap[k] = types.EntityType(in.str(string(t)))
		}
	}
}
