package pdp

import (
	"iter"

	"github.com/cedar-policy/cedar-go"
	"github.com/cedar-policy/cedar-go/types"
	xast "github.com/cedar-policy/cedar-go/x/exp/ast"
)

// scopeIndex files every policy under one key of its scope, the most
// selective one it has, so that a request only looks at the policies whose
// scope can match it. A policy whose scope constrains nothing is a
// candidate for every request. The candidates may be too many but never
// too few; exact then matches each one's whole scope (scope.go).
type scopeIndex struct {
	all []*policy // unconstrained scope

	// pairEq holds policies with both principal == and resource ==, the
	// shape of grants and allowlist entries, under the exact pair.
	pairEq map[[2]types.EntityUID][]*policy

	principalEq, principalIn map[types.EntityUID][]*policy
	principalIs              map[types.EntityType][]*policy
	resourceEq, resourceIn   map[types.EntityUID][]*policy
	resourceIs               map[types.EntityType][]*policy
	actionEq, actionIn       map[types.EntityUID][]*policy

	// ancestors is the transitive closure of the entity hierarchy.
	ancestors map[types.EntityUID][]types.EntityUID
	// hasMulti is true when some policy is filed under several keys, so a
	// request may meet it twice.
	hasMulti bool
}

func newScopeIndex(policies []*policy, entities types.EntityMap) *scopeIndex {
	ix := &scopeIndex{
		principalEq: map[types.EntityUID][]*policy{}, principalIn: map[types.EntityUID][]*policy{},
		principalIs: map[types.EntityType][]*policy{},
		resourceEq:  map[types.EntityUID][]*policy{}, resourceIn: map[types.EntityUID][]*policy{},
		resourceIs: map[types.EntityType][]*policy{},
		actionEq:   map[types.EntityUID][]*policy{}, actionIn: map[types.EntityUID][]*policy{},
		ancestors: closure(entities),
		pairEq:    map[[2]types.EntityUID][]*policy{},
	}
	for _, p := range policies {
		ix.add(p)
	}
	return ix
}

// add files p under the most selective key of its scope: equality before
// membership before type, principal and resource before action (there are
// few actions, many principals and resources).
func (ix *scopeIndex) add(p *policy) {
	a := (*xast.Policy)(p.p.AST())
	pe, pok := a.Principal.(xast.ScopeTypeEq)
	re, rok := a.Resource.(xast.ScopeTypeEq)
	if pok && rok {
		k := [2]types.EntityUID{pe.Entity, re.Entity}
		ix.pairEq[k] = append(ix.pairEq[k], p)
		return
	}
	if s, ok := a.Principal.(xast.ScopeTypeEq); ok {
		ix.principalEq[s.Entity] = append(ix.principalEq[s.Entity], p)
		return
	}
	if s, ok := a.Resource.(xast.ScopeTypeEq); ok {
		ix.resourceEq[s.Entity] = append(ix.resourceEq[s.Entity], p)
		return
	}
	switch s := a.Principal.(type) {
	case xast.ScopeTypeIn:
		ix.principalIn[s.Entity] = append(ix.principalIn[s.Entity], p)
		return
	case xast.ScopeTypeIsIn:
		ix.principalIn[s.Entity] = append(ix.principalIn[s.Entity], p)
		return
	}
	switch s := a.Resource.(type) {
	case xast.ScopeTypeIn:
		ix.resourceIn[s.Entity] = append(ix.resourceIn[s.Entity], p)
		return
	case xast.ScopeTypeIsIn:
		ix.resourceIn[s.Entity] = append(ix.resourceIn[s.Entity], p)
		return
	}
	if s, ok := a.Action.(xast.ScopeTypeEq); ok {
		ix.actionEq[s.Entity] = append(ix.actionEq[s.Entity], p)
		return
	}
	if s, ok := a.Principal.(xast.ScopeTypeIs); ok {
		ix.principalIs[s.Type] = append(ix.principalIs[s.Type], p)
		return
	}
	if s, ok := a.Resource.(xast.ScopeTypeIs); ok {
		ix.resourceIs[s.Type] = append(ix.resourceIs[s.Type], p)
		return
	}
	switch s := a.Action.(type) {
	case xast.ScopeTypeIn:
		ix.actionIn[s.Entity] = append(ix.actionIn[s.Entity], p)
		return
	case xast.ScopeTypeInSet:
		for _, e := range s.Entities {
			ix.actionIn[e] = append(ix.actionIn[e], p)
		}
		if len(s.Entities) > 1 {
			p.multi = true
			ix.hasMulti = true
		}
		return
	}
	ix.all = append(ix.all, p)
}

// candidates appends to buf the policies whose scope can match req; l
// (optional) supplies entities from outside the bundle.
func (ix *scopeIndex) candidates(req *types.Request, l *layered, buf []*policy) []*policy {
	buf = append(buf, ix.all...)
	if len(ix.pairEq) > 0 {
		buf = append(buf, ix.pairEq[[2]types.EntityUID{req.Principal, req.Resource}]...)
	}
	buf = append(buf, ix.principalEq[req.Principal]...)
	buf = append(buf, ix.resourceEq[req.Resource]...)
	buf = append(buf, ix.actionEq[req.Action]...)
	buf = append(buf, ix.principalIs[req.Principal.Type]...)
	buf = append(buf, ix.resourceIs[req.Resource.Type]...)
	buf = ix.appendIn(buf, ix.principalIn, req.Principal, l)
	buf = ix.appendIn(buf, ix.resourceIn, req.Resource, l)
	start := len(buf)
	buf = ix.appendIn(buf, ix.actionIn, req.Action, nil)
	if ix.hasMulti {
		buf = dedupeMulti(buf, start)
	}
	return buf
}

// exact keeps the candidates whose scope holds for req, each as its body
// alone, and those whose scope it cannot match itself, as they are.
func (ix *scopeIndex) exact(req *types.Request, l *layered, cands []*policy) []*policy {
	n := 0
	for _, p := range cands {
		switch {
		case p.body == nil:
			cands[n] = p
		case p.scope.matches(req, ix, l):
			cands[n] = p.body
		default:
			continue
		}
		n++
	}
	clear(cands[n:])
	return cands[:n]
}

// appendIn appends the policies filed under uid or any of its ancestors
// (`x in uid` holds when x == uid or uid is an ancestor of x).
func (ix *scopeIndex) appendIn(buf []*policy, m map[types.EntityUID][]*policy, uid types.EntityUID, l *layered) []*policy {
	if len(m) == 0 {
		return buf
	}
	buf = append(buf, m[uid]...)
	for _, a := range ix.ancestorsOf(uid, l) {
		buf = append(buf, m[a]...)
	}
	return buf
}

// dedupeMulti drops repeats of multi-key policies from buf[start:], the only
// place they can repeat.
func dedupeMulti(buf []*policy, start int) []*policy {
	var seen map[*policy]struct{}
	out := buf[:start]
	for _, p := range buf[start:] {
		if p.multi {
			if seen == nil {
				seen = map[*policy]struct{}{}
			}
			if _, dup := seen[p]; dup {
				continue
			}
			seen[p] = struct{}{}
		}
		out = append(out, p)
	}
	return out
}

// closure computes every entity's ancestors (parents, their parents, ...).
func closure(entities types.EntityMap) map[types.EntityUID][]types.EntityUID {
	out := make(map[types.EntityUID][]types.EntityUID, len(entities))
	for uid := range entities {
		var list []types.EntityUID
		seen := map[types.EntityUID]bool{uid: true}
		stack := []types.EntityUID{uid}
		for len(stack) > 0 {
			cur := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			e, ok := entities[cur]
			if !ok {
				continue
			}
			for parent := range e.Parents.All() {
				if !seen[parent] {
					seen[parent] = true
					list = append(list, parent)
					stack = append(stack, parent)
				}
			}
		}
		if len(list) > 0 {
			out[uid] = list
		}
	}
	return out
}

// policyList adapts a candidate slice to cedar.PolicyIterator.
type policyList []*policy

func (l policyList) All() iter.Seq2[cedar.PolicyID, *cedar.Policy] {
	return func(yield func(cedar.PolicyID, *cedar.Policy) bool) {
		for _, p := range l {
			if !yield(p.id, p.p) {
				return
			}
		}
	}
}

var _ cedar.PolicyIterator = policyList(nil)
