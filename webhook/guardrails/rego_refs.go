package guardrails

import (
	"github.com/open-policy-agent/opa/v1/ast"
)

// anyElem in a path stands for every element of an array (or every member
// value of an object) that a rule iterates over.
const anyElem = "*"

// inputRefs are the paths into input.object and input.pod that the rules
// can read. all means some rule uses input as a whole (or with a computed
// key), so everything must be converted.
type inputRefs struct {
	all    bool
	object [][]string
	pod    [][]string
}

func (r *inputRefs) record(path []string) {
	switch {
	case len(path) == 0:
		r.all = true
	case path[0] == "object":
		r.object = append(r.object, path[1:])
	case path[0] == "pod":
		r.pod = append(r.pod, path[1:])
	}
}

var inputVar = ast.Var("input")

// constPrefix returns the constant string keys of ref after its head, up to
// the first element that is not a string; whole reports whether all of
// them are.
func constPrefix(ref ast.Ref) (path []string, whole bool) {
	for _, t := range ref[1:] {
		s, ok := t.Value.(ast.String)
		if !ok {
			return path, false
		}
		path = append(path, string(s))
	}
	return path, true
}

// collectInputRefs finds what the rules read from input. A reference
// input.x.y[z] records the constant prefix [x y]: everything below it stays
// available, everything beside it is never looked at. Inside one rule, a
// variable bound by `some v in input.x.y` (or `some k, v in ...`) that is
// only used as the head of references v.a.b records [x y * a b] instead of
// the whole of input.x.y; any other use of v, or a second declaration of
// the same name in the rule, falls back to the whole collection.
func collectInputRefs(mods []*ast.Module) inputRefs {
	var r inputRefs
	for _, m := range mods {
		for _, imp := range m.Imports {
			if ref, ok := imp.Path.Value.(ast.Ref); ok && ref[0].Value.Compare(inputVar) == 0 {
				p, _ := constPrefix(ref)
				r.record(p)
			}
		}
		for _, rule := range m.Rules {
			collectRuleRefs(rule, &r)
		}
	}
	return r
}

// iterDecl is a `some ... v in input.<path>` declaration.
type iterDecl struct {
	v      ast.Var
	varT   *ast.Term // the declaring occurrence of v
	domain *ast.Term // the input reference iterated over
	path   []string  // its constant path (below input)
}

func collectRuleRefs(rule *ast.Rule, r *inputRefs) {
	// Pass 1: iteration declarations over constant input paths, and how
	// often each name is declared or assigned in the rule.
	var decls []iterDecl
	declared := map[ast.Var]int{}
	ast.WalkExprs(rule, func(e *ast.Expr) bool {
		if sd, ok := e.Terms.(*ast.SomeDecl); ok {
			for _, sym := range sd.Symbols {
				switch x := sym.Value.(type) {
				case ast.Var:
					declared[x]++
				case ast.Call:
					if len(x) < 3 {
						continue
					}
					vt, dom := x[len(x)-2], x[len(x)-1]
					for _, a := range x[1 : len(x)-1] {
						if v, ok := a.Value.(ast.Var); ok {
							declared[v]++
						}
					}
					v, ok := vt.Value.(ast.Var)
					ref, isRef := dom.Value.(ast.Ref)
					if !ok || !isRef || ref[0].Value.Compare(inputVar) != 0 {
						continue
					}
					if p, whole := constPrefix(ref); whole && len(p) > 0 {
						decls = append(decls, iterDecl{v: v, varT: vt, domain: dom, path: p})
					}
				}
			}
		}
		if e.IsAssignment() || e.IsEquality() {
			if ts, ok := e.Terms.([]*ast.Term); ok && len(ts) == 3 {
				if v, ok := ts[1].Value.(ast.Var); ok {
					declared[v]++
				}
			}
		}
		return false
	})
	tracked := map[ast.Var]*iterDecl{}
	skip := map[*ast.Term]bool{}
	for i := range decls {
		d := &decls[i]
		if declared[d.v] == 1 && !d.v.IsWildcard() {
			tracked[d.v] = d
			skip[d.varT], skip[d.domain] = true, true
		}
	}
	// Pass 2: every use of input and of the tracked variables.
	uses := map[ast.Var][][]string{}
	whole := map[ast.Var]bool{}
	var vis *ast.GenericVisitor
	vis = ast.NewGenericVisitor(func(x any) bool {
		t, ok := x.(*ast.Term)
		if !ok {
			if v, ok := x.(ast.Var); ok && v.Compare(inputVar) == 0 {
				r.all = true
			}
			return false
		}
		if skip[t] {
			return true
		}
		switch v := t.Value.(type) {
		case ast.Var:
			if v.Compare(inputVar) == 0 {
				r.all = true // input used as a value on its own
			}
			if tracked[v] != nil {
				whole[v] = true
			}
			return true
		case ast.Ref:
			head, _ := v[0].Value.(ast.Var)
			switch {
			case head.Compare(inputVar) == 0:
				p, _ := constPrefix(v)
				r.record(p)
			case tracked[head] != nil:
				p, _ := constPrefix(v)
				uses[head] = append(uses[head], p)
			}
			for _, el := range v[1:] {
				vis.Walk(el)
			}
			return true
		}
		return false
	})
	vis.Walk(rule)
	for i := range decls {
		d := &decls[i]
		v := d.v
		if tracked[v] != d {
			continue // not tracked: the walk recorded its domain whole
		}
		base := append(append([]string{}, d.path...), anyElem)
		switch {
		case whole[v]:
			r.record(d.path)
		case len(uses[v]) == 0:
			r.record(base) // iterated over, elements not read
		default:
			for _, u := range uses[v] {
				r.record(append(append([]string{}, base...), u...))
			}
		}
	}
}
