package pdp

import (
	"github.com/cedar-policy/cedar-go/types"
)

// layered looks an entity up in the per-request principal first, then in
// the dynamic entities (e.g. the cluster's agent registry), then in the
// bundle's.
type layered struct {
	principal *types.Entity
	dynamic   types.EntityGetter
	bundle    types.EntityMap
}

func (l *layered) Get(uid types.EntityUID) (types.Entity, bool) {
	if l.principal != nil && l.principal.UID == uid {
		return *l.principal, true
	}
	if l.dynamic != nil {
		if e, ok := l.dynamic.Get(uid); ok {
			return e, true
		}
	}
	e, ok := l.bundle[uid]
	return e, ok
}

var _ types.EntityGetter = (*layered)(nil)

// ancestorsOf returns uid's ancestors as the request sees them. Bundle
// entities use the closure computed at load; an entity from elsewhere (the
// request's principal, the registry) has its parents walked, with the
// bundle closure of each parent.
func (ix *scopeIndex) ancestorsOf(uid types.EntityUID, l *layered) []types.EntityUID {
	if l == nil || (l.principal == nil && l.dynamic == nil) {
		return ix.ancestors[uid]
	}
	var e types.Entity
	var ok bool
	if l.principal != nil && l.principal.UID == uid {
		e, ok = *l.principal, true
	} else if l.dynamic != nil {
		e, ok = l.dynamic.Get(uid)
	}
	if !ok {
		return ix.ancestors[uid]
	}
	seen := map[types.EntityUID]bool{uid: true}
	var out []types.EntityUID
	var walk func(p types.EntityUID)
	walk = func(p types.EntityUID) {
		if seen[p] {
			return
		}
		seen[p] = true
		out = append(out, p)
		if l.dynamic != nil {
			if pe, ok := l.dynamic.Get(p); ok {
				for pp := range pe.Parents.All() {
					walk(pp)
				}
				return
			}
		}
		for _, a := range ix.ancestors[p] {
			if !seen[a] {
				seen[a] = true
				out = append(out, a)
			}
		}
	}
	for p := range e.Parents.All() {
		walk(p)
	}
	return out
}
