package pdp

import (
	"github.com/cedar-policy/cedar-go/types"
	xast "github.com/cedar-policy/cedar-go/x/exp/ast"
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

// conditions returns a policy's conditions with the strings of their
// attribute names, variables and literals interned, so that an attribute
// lookup finds its key by pointer and a literal compares with an entity's
// interned value by pointer. Arithmetic, like and extension calls are kept
// whole (they compare no entity data). A nil interner keeps cs.
func (in interner) conditions(cs []xast.ConditionType) []xast.ConditionType {
	if in == nil {
		return cs
	}
	out := make([]xast.ConditionType, len(cs))
	for i, c := range cs {
		out[i] = xast.ConditionType{Condition: c.Condition, Body: in.node(c.Body)}
	}
	return out
}

func (in interner) node(n xast.IsNode) xast.IsNode {
	switch n := n.(type) {
	case xast.NodeValue:
		return xast.NodeValue{Value: in.value(n.Value)}
	case xast.NodeTypeVariable:
		return xast.NodeTypeVariable{Name: in.string(n.Name)}
	case xast.NodeTypeAccess:
		return xast.NodeTypeAccess{StrOpNode: in.strOp(n.StrOpNode)}
	case xast.NodeTypeHas:
		return xast.NodeTypeHas{StrOpNode: in.strOp(n.StrOpNode)}
	case xast.NodeTypeAnd:
		return xast.NodeTypeAnd{BinaryNode: in.binary(n.BinaryNode)}
	case xast.NodeTypeOr:
		return xast.NodeTypeOr{BinaryNode: in.binary(n.BinaryNode)}
	case xast.NodeTypeEquals:
		return xast.NodeTypeEquals{BinaryNode: in.binary(n.BinaryNode)}
	case xast.NodeTypeNotEquals:
		return xast.NodeTypeNotEquals{BinaryNode: in.binary(n.BinaryNode)}
	case xast.NodeTypeLessThan:
		return xast.NodeTypeLessThan{BinaryNode: in.binary(n.BinaryNode)}
	case xast.NodeTypeLessThanOrEqual:
		return xast.NodeTypeLessThanOrEqual{BinaryNode: in.binary(n.BinaryNode)}
	case xast.NodeTypeGreaterThan:
		return xast.NodeTypeGreaterThan{BinaryNode: in.binary(n.BinaryNode)}
	case xast.NodeTypeGreaterThanOrEqual:
		return xast.NodeTypeGreaterThanOrEqual{BinaryNode: in.binary(n.BinaryNode)}
	case xast.NodeTypeIn:
		return xast.NodeTypeIn{BinaryNode: in.binary(n.BinaryNode)}
	case xast.NodeTypeContains:
		return xast.NodeTypeContains{BinaryNode: in.binary(n.BinaryNode)}
	case xast.NodeTypeContainsAll:
		return xast.NodeTypeContainsAll{BinaryNode: in.binary(n.BinaryNode)}
	case xast.NodeTypeContainsAny:
		return xast.NodeTypeContainsAny{BinaryNode: in.binary(n.BinaryNode)}
	case xast.NodeTypeHasTag:
		return xast.NodeTypeHasTag{BinaryNode: in.binary(n.BinaryNode)}
	case xast.NodeTypeGetTag:
		return xast.NodeTypeGetTag{BinaryNode: in.binary(n.BinaryNode)}
	case xast.NodeTypeNot:
		return xast.NodeTypeNot{UnaryNode: xast.UnaryNode{Arg: in.node(n.Arg)}}
	case xast.NodeTypeIsEmpty:
		return xast.NodeTypeIsEmpty{UnaryNode: xast.UnaryNode{Arg: in.node(n.Arg)}}
	case xast.NodeTypeIfThenElse:
		return xast.NodeTypeIfThenElse{If: in.node(n.If), Then: in.node(n.Then), Else: in.node(n.Else)}
	case xast.NodeTypeIs:
		return in.is(n)
	case xast.NodeTypeIsIn:
		return xast.NodeTypeIsIn{NodeTypeIs: in.is(n.NodeTypeIs), Entity: in.node(n.Entity)}
	case xast.NodeTypeRecord:
		els := make([]xast.RecordElementNode, len(n.Elements))
		for i, e := range n.Elements {
			els[i] = xast.RecordElementNode{Key: in.string(e.Key), Value: in.node(e.Value)}
		}
		return xast.NodeTypeRecord{Elements: els}
	case xast.NodeTypeSet:
		els := make([]xast.IsNode, len(n.Elements))
		for i, e := range n.Elements {
			els[i] = in.node(e)
		}
		return xast.NodeTypeSet{Elements: els}
	}
	return n
}

func (in interner) string(s types.String) types.String { return types.String(in.str(string(s))) }

func (in interner) strOp(n xast.StrOpNode) xast.StrOpNode {
	return xast.StrOpNode{Arg: in.node(n.Arg), Value: in.string(n.Value)}
}

func (in interner) binary(n xast.BinaryNode) xast.BinaryNode {
	return xast.BinaryNode{Left: in.node(n.Left), Right: in.node(n.Right)}
}

func (in interner) is(n xast.NodeTypeIs) xast.NodeTypeIs {
	return xast.NodeTypeIs{Left: in.node(n.Left), EntityType: types.EntityType(in.str(string(n.EntityType)))}
}
