package pdp

import (
	"slices"

	"github.com/cedar-policy/cedar-go"
	"github.com/cedar-policy/cedar-go/ast"
	"github.com/cedar-policy/cedar-go/types"
	xast "github.com/cedar-policy/cedar-go/x/exp/ast"
)

// A scope is a policy's principal, action and resource constraints as Go
// data. The index matches a candidate's scope exactly with it, using the
// entity closure it already has, and then hands Cedar the policy's body
// alone (the same policy with an unconstrained scope): cedar-go would
// otherwise check the scope again on every request, and an `action in
// [...]` check walks the action hierarchy with fresh sets each time. A
// policy whose scope holds for the request decides exactly as its body
// does; one whose scope does not hold cannot match and is left out.
// TestIndexDifferential holds decisions, reasons and errors to plain
// cedar-go's.
type scope struct {
	principal, resource entityScope
	action              []types.EntityUID // nil: any action
	actionIn            bool              // action in (the group or the list)
}

// entityScope is a principal or resource constraint; the zero value is
// unconstrained.
type entityScope struct {
	typ    types.EntityType // "": any type
	uid    types.EntityUID  // zero: any entity
	within bool             // uid is an ancestor or itself (in), not equal
}

// compileScope reads p's scope; false if it has a shape it does not know.
func compileScope(p *cedar.Policy) (scope, bool) {
	a := (*xast.Policy)(p.AST())
	var s scope
	var ok bool
	if s.principal, ok = entityScopeOf(a.Principal); !ok {
		return scope{}, false
	}
	if s.resource, ok = entityScopeOf(a.Resource); !ok {
		return scope{}, false
	}
	switch n := a.Action.(type) {
	case xast.ScopeTypeAll:
	case xast.ScopeTypeEq:
		s.action = []types.EntityUID{n.Entity}
	case xast.ScopeTypeIn:
		s.action, s.actionIn = []types.EntityUID{n.Entity}, true
	case xast.ScopeTypeInSet:
		s.action, s.actionIn = slices.Clone(n.Entities), true
		if len(s.action) == 0 {
			return scope{}, false // `in []`: rare; leave it to Cedar
		}
	default:
		return scope{}, false
	}
	return s, true
}

func entityScopeOf(n any) (entityScope, bool) {
	switch n := n.(type) {
	case xast.ScopeTypeAll:
		return entityScope{}, true
	case xast.ScopeTypeEq:
		return entityScope{uid: n.Entity}, true
	case xast.ScopeTypeIn:
		return entityScope{uid: n.Entity, within: true}, true
	case xast.ScopeTypeIs:
		return entityScope{typ: n.Type}, true
	case xast.ScopeTypeIsIn:
		return entityScope{typ: n.Type, uid: n.Entity, within: true}, true
	}
	return entityScope{}, false
}

// bodyOnly returns p with an unconstrained scope (same id annotation,
// effect, conditions and position).
func bodyOnly(p *cedar.Policy, in interner) *cedar.Policy {
	a := *(*xast.Policy)(p.AST())
	a.Principal, a.Action, a.Resource = xast.ScopeTypeAll{}, xast.ScopeTypeAll{}, xast.ScopeTypeAll{}
	a.Conditions = in.conditions(a.Conditions)
	return cedar.NewPolicyFromAST((*ast.Policy)(&a))
}

// matches reports whether the request satisfies s, as Cedar would decide
// the scope with the same entities.
func (s *scope) matches(req *types.Request, ix *scopeIndex, l *layered) bool {
	if !ix.entityMatches(&s.principal, req.Principal, l) || !ix.entityMatches(&s.resource, req.Resource, l) {
		return false
	}
	if s.action == nil {
		return true
	}
	for _, a := range s.action {
		if req.Action == a || s.actionIn && slices.Contains(ix.ancestorsOf(req.Action, nil), a) {
			return true
		}
	}
	return false
}

func (ix *scopeIndex) entityMatches(s *entityScope, uid types.EntityUID, l *layered) bool {
	switch {
	case s.typ != "" && uid.Type != s.typ:
		return false
	case s.uid == (types.EntityUID{}):
		return true // unconstrained, or is T
	case uid == s.uid:
		return true
	case !s.within:
		return false
	}
	return slices.Contains(ix.ancestorsOf(uid, l), s.uid)
}
