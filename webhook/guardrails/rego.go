package guardrails

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
)

// RulesPackage is the package every custom admission rule must declare.
const RulesPackage = "agentguard.admission"

// RuleErrorID is the control reported when custom rules cannot be evaluated:
// a guardrail that cannot run is treated as a workload outside the
// guardrails (AG-GOV-001), so the request is denied.
const RuleErrorID = "AG-GOV-001"

// ErrInvalidRules is returned (wrapped) when custom Rego rules do not parse
// or compile.
var ErrInvalidRules = errors.New("invalid admission rules")

// regoRules is the prepared query over a bundle's custom rules.
type regoRules struct {
	query rego.PreparedEvalQuery
	// refs are the parts of input.object and input.pod the rules refer to.
	refs inputRefs
	// tries caches, per pod path, the object paths to convert.
	tries sync.Map // string -> *pathTrie (nil trie: everything)
}

// trieFor returns the object paths to convert for a pod at podPath, or nil
// for everything.
func (r *regoRules) trieFor(podPath string) *pathTrie {
	if r.refs.all {
		return nil
	}
	if t, ok := r.tries.Load(podPath); ok {
		return t.(*pathTrie)
	}
	t := &pathTrie{}
	for _, p := range r.refs.object {
		t.add(p)
	}
	var prefix []string
	if podPath != "" {
		prefix = strings.Split(strings.TrimPrefix(podPath, "/"), "/")
	}
	for _, p := range r.refs.pod {
		t.add(append(slices.Clone(prefix), p...))
	}
	r.tries.Store(podPath, t)
	return t
}

// compileRules parses and compiles the modules once. nil modules give nil
// rules (nothing to evaluate).
func compileRules(ctx context.Context, modules map[string]string) (*regoRules, error) {
	if len(modules) == 0 {
		return nil, nil
	}
	opts := []func(*rego.Rego){
		rego.Query("data." + RulesPackage + ".deny"),
		rego.StrictBuiltinErrors(true),
	}
	var mods []*ast.Module
	for _, name := range sortedKeys(modules) {
		m, err := ast.ParseModuleWithOpts(name, modules[name], ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidRules, err)
		}
		if got := strings.TrimPrefix(m.Package.Path.String(), "data."); got != RulesPackage {
			return nil, fmt.Errorf("%w: %s: package %s: want package %s", ErrInvalidRules, name, got, RulesPackage)
		}
		opts = append(opts, rego.ParsedModule(m))
		mods = append(mods, m)
	}
	pq, err := rego.New(opts...).PrepareForEval(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidRules, err)
	}
	return &regoRules{query: pq, refs: collectInputRefs(mods)}, nil
}

// regoInput is what custom rules see as input (see docs/admission.md). The
// object is converted to an AST value once and input.pod is a subtree of
// it, so large objects are not converted twice.
func (r *regoRules) input(ev *evaluation) (ast.Value, error) {
	in := ev.in
	var obj, pod ast.Value
	var err error
	switch {
	case in.ObjectJSON != nil:
		if obj, err = jsonToAST(in.ObjectJSON, r.trieFor(in.PodPath)); err != nil {
			return nil, err
		}
		if in.PodSpec != nil {
			pod = lookupValue(obj, in.PodPath)
		}
	case in.Object != nil:
		if obj, err = ast.InterfaceToValue(in.Object); err != nil {
			return nil, err
		}
		if in.PodSpec != nil {
			pod = lookupValue(obj, in.PodPath)
		}
	case in.PodSpec != nil:
		v, err := toJSONValue(map[string]any{"metadata": in.PodMeta, "spec": in.PodSpec})
		if err != nil {
			return nil, err
		}
		if pod, err = ast.InterfaceToValue(v); err != nil {
			return nil, err
		}
		obj = pod
	}
	if obj == nil {
		obj = ast.NullValue
	}
	if pod == nil {
		pod = ast.NullValue
	}
	user := ast.NewObject()
	if in.User != nil {
		groups := make([]*ast.Term, len(in.User.Groups))
		for i, g := range in.User.Groups {
			groups[i] = ast.StringTerm(g)
		}
		user = ast.NewObject(
			ast.Item(ast.StringTerm("username"), ast.StringTerm(in.User.Username)),
			ast.Item(ast.StringTerm("groups"), ast.ArrayTerm(groups...)),
		)
	}
	nsLabels := ast.NewObject()
	for _, k := range sortedKeys(in.NamespaceLabels) {
		nsLabels.Insert(ast.StringTerm(k), ast.StringTerm(in.NamespaceLabels[k]))
	}
	return ast.NewObject(
		ast.Item(ast.StringTerm("operation"), ast.StringTerm(in.Operation)),
		ast.Item(ast.StringTerm("kind"), ast.StringTerm(in.Kind)),
		ast.Item(ast.StringTerm("name"), ast.StringTerm(in.Name)),
		ast.Item(ast.StringTerm("namespace"), ast.ObjectTerm(
			ast.Item(ast.StringTerm("name"), ast.StringTerm(in.Namespace)),
			ast.Item(ast.StringTerm("labels"), ast.NewTerm(nsLabels)),
		)),
		ast.Item(ast.StringTerm("agent"), ast.StringTerm(ev.d.Agent)),
		ast.Item(ast.StringTerm("tenant"), ast.StringTerm(ev.d.Tenant)),
		ast.Item(ast.StringTerm("isAgent"), ast.BooleanTerm(ev.agent)),
		ast.Item(ast.StringTerm("user"), ast.NewTerm(user)),
		ast.Item(ast.StringTerm("object"), ast.NewTerm(obj)),
		ast.Item(ast.StringTerm("pod"), ast.NewTerm(pod)),
	), nil
}

// lookupValue follows a simple JSON pointer through AST objects.
func lookupValue(v ast.Value, ptr string) ast.Value {
	if ptr == "" {
		return v
	}
	for _, tok := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
		o, ok := v.(ast.Object)
		if !ok {
			return nil
		}
		t := o.Get(ast.StringTerm(tok))
		if t == nil {
			return nil
		}
		v = t.Value
	}
	return v
}

func toJSONValue(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out any
	return out, json.Unmarshal(b, &out)
}

// eval runs the custom rules and records their violations. Any error denies.
func (r *regoRules) eval(ctx context.Context, ev *evaluation) {
	fail := func(err error) {
		ev.d.Violations = append(ev.d.Violations, Violation{
			ID:    RuleErrorID,
			Check: "rego",
			Message: message(RuleErrorID, "custom admission rules (package %s) failed to evaluate, so the object is refused (fail closed): %v; fix: correct the rule in the bundle's admission/*.rego",
				RulesPackage, err),
			Mode: ModeEnforce,
		})
	}
	defer func() {
		if p := recover(); p != nil {
			fail(fmt.Errorf("panic: %v", p))
		}
	}()
	input, err := r.input(ev)
	if err != nil {
		fail(err)
		return
	}
	rs, err := r.query.Eval(ctx, rego.EvalParsedInput(input))
	if err != nil {
		fail(err)
		return
	}
	if len(rs) == 0 || len(rs[0].Expressions) == 0 {
		return // deny is undefined: no violations
	}
	items, ok := rs[0].Expressions[0].Value.([]any)
	if !ok {
		fail(fmt.Errorf("deny is %T, want a set of objects", rs[0].Expressions[0].Value))
		return
	}
	for _, it := range items {
		obj, _ := it.(map[string]any)
		id, _ := obj["id"].(string)
		msg, _ := obj["msg"].(string)
		if id == "" || msg == "" {
			fail(fmt.Errorf("deny element %v: want {\"id\": string, \"msg\": string}", it))
			return
		}
		if !strings.HasPrefix(msg, "["+id+"]") {
			msg = "[" + id + "] " + msg
		}
		ev.addFor("rego", id, msg)
	}
}
