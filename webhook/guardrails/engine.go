package guardrails

import (
	"context"
	"fmt"
	"slices"

	"github.com/agentguard/agentguard/webhook/images"
)

// Options configures New.
type Options struct {
	// Config is the admission config. Default DefaultConfig().
	Config *Config
	// Rules are custom Rego modules (file name -> source), all in package
	// agentguard.admission. Default none.
	Rules map[string]string
	// Revision identifies the bundle revision (for example a content hash).
	// Default "".
	Revision string
	// Images is the compiled image policy (admission/images.yaml). Nil
	// means the bundle has none: no signature verification.
	Images *images.Policy
}

// Engine evaluates objects against the built-in guardrails and a bundle's
// custom rules. It is immutable and safe for concurrent use; build a new one
// for each bundle revision.
type Engine struct {
	cfg      *Config
	checks   []check
	rules    *regoRules
	revision string
	images   *images.Policy
}

// scope says which objects a check applies to.
type scope int

const (
	// scopeContainers: pods that are agent workloads, or every pod when
	// Config.Scope is "all".
	scopeContainers scope = iota
	// scopeAgents: agent workloads only.
	scopeAgents
	// scopeLabels: every object, pods and Namespaces.
	scopeLabels
	// scopeTenantSecrets: Secrets in agent tenant namespaces.
	scopeTenantSecrets
)

// check is one built-in guardrail.
type check struct {
	name  string
	id    string // control ID reported when the check itself fails
	scope scope
	run   func(*evaluation)
}

// New builds an Engine. It compiles the custom Rego rules once.
func New(ctx context.Context, opts Options) (*Engine, error) {
	if opts.Config == nil {
		opts.Config = DefaultConfig()
	}
	rules, err := compileRules(ctx, opts.Rules)
	if err != nil {
		return nil, err
	}
	e := &Engine{cfg: opts.Config, rules: rules, revision: opts.Revision, images: opts.Images}
	e.checks = append(e.checks, psaChecks()...)
	e.checks = append(e.checks, builtinChecks...)
	return e, nil
}

// Config returns the engine's admission config. Callers must not modify it.
func (e *Engine) Config() *Config { return e.cfg }

// HasRules reports whether the bundle has custom Rego rules (which need the
// object as decoded JSON in Input.Object).
func (e *Engine) HasRules() bool { return e.rules != nil }

// CheckImages is the check name of image verification (AG-GEN-004, and
// AG-GEN-003 for registry failures), run by the webhook's Reviewer with the
// bundle's image policy; admission/config.yaml modes accept it.
const CheckImages = "images"

// Images returns the bundle's image policy, or nil when it has none.
func (e *Engine) Images() *images.Policy { return e.images }

// ContainerChecksApply reports whether the container guardrails (AG-GEN-*,
// image verification among them) apply to in: a pod (template) that is not
// exempt, whose spec changed, and that is an agent workload or any pod
// with scope "all".
func (e *Engine) ContainerChecksApply(in *Input) bool {
	return in.PodSpec != nil && !in.SpecUnchanged && e.Exempt(in) == "" && (e.IsAgent(in) || e.cfg.Scope == "all")
}

// ModeFor returns the mode configured for a check name or control ID
// (admission/config.yaml modes, then defaultMode).
func (e *Engine) ModeFor(check, id string) Mode { return e.cfg.modeFor(check, id) }

// Revision returns the bundle revision the engine was built from.
func (e *Engine) Revision() string { return e.revision }

// Exempt reports why in is exempt from every guardrail, or "" if it is not.
func (e *Engine) Exempt(in *Input) string {
	ns := in.Namespace
	if in.IsNamespace() {
		ns = in.Name
	}
	switch {
	case ns == "kube-system":
		return "namespace kube-system is always exempt"
	case ns == e.cfg.SystemNamespace:
		return fmt.Sprintf("namespace %s is agentguard's own namespace", ns)
	case slices.Contains(e.cfg.Exemptions.Namespaces, ns) && ns != "":
		return fmt.Sprintf("namespace %s is exempt by config", ns)
	}
	if in.IsNamespace() {
		return ""
	}
	if k, ok := matchLabels(e.cfg.Exemptions.NamespaceLabels, in.NamespaceLabels); ok {
		return fmt.Sprintf("namespace label %s is exempt by config", k)
	}
	if in.PodMeta != nil {
		if k, ok := matchLabels(e.cfg.Exemptions.PodLabels, in.PodMeta.Labels); ok {
			return fmt.Sprintf("pod label %s is exempt by config", k)
		}
	}
	return ""
}

func matchLabels(sel, labels map[string]string) (string, bool) {
	for k, want := range sel {
		if v, ok := labels[k]; ok && (want == "*" || want == v) {
			return k + "=" + v, true
		}
	}
	return "", false
}

// IsAgent reports whether in is an agent workload: its pod carries the
// agentguard.io/agent label or its namespace the agentguard.io/tenant label.
func (e *Engine) IsAgent(in *Input) bool {
	if in.PodMeta == nil {
		return false
	}
	if _, ok := in.PodMeta.Labels[LabelAgent]; ok {
		return true
	}
	_, ok := in.NamespaceLabels[LabelTenant]
	return ok
}

// AgentSettings returns the registry entry of in's agent (zero if none).
func (e *Engine) AgentSettings(in *Input) (Agent, bool) {
	if in.PodMeta == nil {
		return Agent{}, false
	}
	a, ok := e.cfg.Agents[in.PodMeta.Labels[LabelAgent]]
	return a, ok
}

// Evaluate runs every applicable guardrail and custom rule on in and returns
// the decision. It never panics: a panic inside a check becomes an enforced
// violation naming the check, and a custom-rule error denies (fail closed).
func (e *Engine) Evaluate(ctx context.Context, in *Input) *Decision {
	d := &Decision{Allowed: true}
	if in.PodMeta != nil {
		d.Agent = in.PodMeta.Labels[LabelAgent]
	}
	d.Tenant = in.NamespaceLabels[LabelTenant]
	if reason := e.Exempt(in); reason != "" {
		d.Exempt = reason
		return d
	}
	ev := &evaluation{e: e, in: in, d: d, agent: e.IsAgent(in)}
	for i := range e.checks {
		c := &e.checks[i]
		if !ev.applies(c) {
			continue
		}
		ev.runCheck(c)
	}
	if e.rules != nil && (in.PodSpec != nil || in.IsNamespace()) && !in.SpecUnchanged {
		e.rules.eval(ctx, ev)
	}
	for _, v := range d.Violations {
		if v.Mode == ModeEnforce {
			d.Allowed = false
		}
	}
	return d
}

// evaluation is the state of one Evaluate call.
type evaluation struct {
	e     *Engine
	in    *Input
	d     *Decision
	agent bool
	cur   *check
}

func (ev *evaluation) applies(c *check) bool {
	switch {
	case c.scope == scopeLabels:
		return true
	case ev.in.SpecUnchanged:
		return false
	case c.scope == scopeTenantSecrets:
		return ev.in.IsSecret() && ev.d.Tenant != ""
	}
	switch c.scope {
	case scopeAgents:
		return ev.in.PodSpec != nil && ev.agent
	default:
		return ev.in.PodSpec != nil && (ev.agent || ev.e.cfg.Scope == "all")
	}
}

func (ev *evaluation) runCheck(c *check) {
	ev.cur = c
	defer func() {
		if r := recover(); r != nil {
			ev.d.Violations = append(ev.d.Violations, Violation{
				ID:    c.id,
				Check: c.name,
				Message: message(c.id, "guardrail %q failed while checking this object (%v); the object is refused until the check is fixed or set to audit mode in admission/config.yaml",
					c.name, r),
				Mode: ModeEnforce,
			})
		}
		ev.cur = nil
	}()
	c.run(ev)
}

// add records a violation of the current check with control ID id.
func (ev *evaluation) add(id, format string, args ...any) {
	ev.addFor(ev.cur.name, id, message(id, format, args...))
}

func (ev *evaluation) addFor(checkName, id, msg string) {
	ev.d.Violations = append(ev.d.Violations, Violation{
		ID:      id,
		Check:   checkName,
		Message: msg,
		Mode:    ev.e.cfg.modeFor(checkName, id),
	})
}
