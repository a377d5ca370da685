package pdp

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"time"

	"github.com/cedar-policy/cedar-go/types"
	"sigs.k8s.io/yaml"
)

// Fallback modes: what a PEP does for a tool when the PDP cannot be reached
// (AG-CC-005/006).
const (
	// FallbackDeny refuses the call. The default for anything not listed.
	FallbackDeny = "deny"
	// FallbackCached reuses an allow decided for the same subject, action,
	// resource and context within maxStale, never past a grant's expiry.
	FallbackCached = "cached"
	// FallbackLocal evaluates in the PEP against a synced, verified copy of
	// the bundle and a snapshot of active grants.
	FallbackLocal = "local"
	// FallbackAllow allows the call; only for tools the bundle marks
	// low-risk (sensitivity "low").
	FallbackAllow = "allow"
)

// Fallback is the bundle's pdp/fallback.yaml.
type Fallback struct {
	// Rules are tried in order; the first that matches decides the mode.
	Rules []FallbackRule `json:"rules"`
}

// FallbackRule sets the fallback of a class of calls.
type FallbackRule struct {
	// Actions are AuthZEN action names; empty means any.
	Actions []string `json:"actions,omitempty"`
	// ResourceType is the AuthZEN resource type, e.g. "tool". Required.
	ResourceType string `json:"resourceType"`
	// Resources are ids or path.Match patterns ("github/*"). Required.
	Resources []string `json:"resources"`
	// Mode is deny, cached, local or allow.
	Mode string `json:"mode"`
	// MaxStale bounds how old a cached allow may be (cached mode only).
	MaxStale Duration `json:"maxStale,omitzero"`
}

// LowRiskAttribute and LowRiskValue mark a resource entity as low-risk, the
// only kind an "allow" fallback may cover.
const (
	LowRiskAttribute = "sensitivity"
	LowRiskValue     = "low"
)

func parseFallback(data []byte) (*Fallback, error) {
	var f Fallback
	if err := yaml.UnmarshalStrict(data, &f); err != nil {
		return nil, err
	}
	return &f, nil
}

// check validates the rules against the mapping and, for allow rules, the
// entities: every resource an allow rule covers must exist and be low-risk.
func (f *Fallback) check(m *Mapping, entities types.EntityMap) error {
	var errs []error
	for i, r := range f.Rules {
		at := fmt.Sprintf("rules[%d]", i)
		for _, a := range r.Actions {
			if _, ok := m.Actions[a]; !ok {
				errs = append(errs, fmt.Errorf("%s.actions: %q is not a mapped action", at, a))
			}
		}
		rt, ok := m.ResourceTypes[r.ResourceType]
		if !ok {
			errs = append(errs, fmt.Errorf("%s.resourceType: %q is not a mapped resource type", at, r.ResourceType))
		}
		if len(r.Resources) == 0 {
			errs = append(errs, fmt.Errorf("%s.resources: required", at))
		}
		for _, p := range r.Resources {
			if _, err := path.Match(p, ""); err != nil {
				errs = append(errs, fmt.Errorf("%s.resources: bad pattern %q: %w", at, p, err))
			}
		}
		switch r.Mode {
		case FallbackDeny, FallbackLocal:
			if r.MaxStale.Duration != 0 {
				errs = append(errs, fmt.Errorf("%s.maxStale: only for mode cached", at))
			}
		case FallbackCached:
			if r.MaxStale.Duration <= 0 || r.MaxStale.Duration > 24*time.Hour {
				errs = append(errs, fmt.Errorf("%s.maxStale: cached mode needs a maxStale above 0 and at most 24h", at))
			}
		case FallbackAllow:
			if ok {
				errs = append(errs, checkLowRisk(at, r, rt, entities)...)
			}
		default:
			errs = append(errs, fmt.Errorf("%s.mode: %q is not deny, cached, local or allow", at, r.Mode))
		}
	}
	return errors.Join(errs...)
}

// checkLowRisk refuses an allow rule that covers a resource not marked
// low-risk, or one that covers nothing the bundle knows.
func checkLowRisk(at string, r FallbackRule, rt types.EntityType, entities types.EntityMap) []error {
	var errs []error
	matched := 0
	for uid, e := range entities {
		if uid.Type != rt || !matchAny(r.Resources, string(uid.ID)) {
			continue
		}
		matched++
		v, ok := e.Attributes.Get(LowRiskAttribute)
		if s, isStr := v.(types.String); !ok || !isStr || s != LowRiskValue {
			errs = append(errs, fmt.Errorf("%s: mode allow covers %s, which is not marked %s %q", at, uid, LowRiskAttribute, LowRiskValue))
		}
	}
	if matched == 0 {
		errs = append(errs, fmt.Errorf("%s: mode allow covers no %s in entities.json; allow is only for named low-risk resources", at, rt))
	}
	return errs
}

func matchAny(patterns []string, id string) bool {
	for _, p := range patterns {
		if ok, _ := path.Match(p, id); ok {
			return true
		}
	}
	return false
}

// Rule returns the fallback rule for an AuthZEN request: the first match,
// or deny with no MaxStale.
func (f *Fallback) Rule(r *Request) FallbackRule {
	if f != nil {
		for _, rule := range f.Rules {
			if rule.ResourceType != r.Resource.Type || !matchAny(rule.Resources, r.Resource.ID) {
				continue
			}
			if len(rule.Actions) > 0 && !slices.Contains(rule.Actions, r.Action.Name) {
				continue
			}
			return rule
		}
	}
	return FallbackRule{Mode: FallbackDeny}
}

// Warnings lists what a bundle build should point out: every allow rule.
func (f *Fallback) Warnings() []string {
	if f == nil {
		return nil
	}
	var w []string
	for i, r := range f.Rules {
		if r.Mode == FallbackAllow {
			w = append(w, fmt.Sprintf("pdp/fallback.yaml rules[%d]: calls to %v are ALLOWED when the PDP is unreachable", i, r.Resources))
		}
	}
	return w
}

// ParseFallback parses and validates a fallback.yaml against engine e's
// mapping and entities (for PEPs that hold the file apart from a bundle).
func (e *Engine) ParseFallback(data []byte) (*Fallback, error) {
	f, err := parseFallback(data)
	if err != nil {
		return nil, err
	}
	return f, f.check(e.c.mapping, e.c.entities)
}

// Fallback is the bundle's declared fallback, or nil (deny everything).
func (e *Engine) Fallback() *Fallback { return e.c.fallback }
