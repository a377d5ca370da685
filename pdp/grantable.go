package pdp

import (
	"errors"
	"fmt"
	"path"
	"time"

	"github.com/cedar-policy/cedar-go/types"
	"sigs.k8s.io/yaml"
)

// Grantables is the bundle's pdp/grants.yaml: what a just-in-time grant may
// lift. A denial is requestable only when a declaration matches it and no
// forbid determined it (a forbid is final).
type Grantables struct {
	// RequestTTL is how long a requestable denial may be turned into an
	// access request (its expires_at). Default 10m.
	RequestTTL Duration `json:"requestTTL,omitzero"`
	// TaskTTL is how long a pending request waits for a decision before it
	// expires. Default 24h.
	TaskTTL Duration `json:"taskTTL,omitzero"`
	// Grantable lists the declarations; the first match wins.
	Grantable []Grantable `json:"grantable"`
}

// Grantable declares one class of grantable access.
type Grantable struct {
	// Name identifies the declaration; it is the access_request template.
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// Actions are AuthZEN action names.
	Actions []string `json:"actions"`
	// ResourceType is the AuthZEN resource type, e.g. "tool".
	ResourceType string `json:"resourceType"`
	// Resources are resource ids or path.Match patterns ("payments/*").
	Resources []string `json:"resources"`
	// MaxDuration bounds approved_until - approval time (at most 24h).
	MaxDuration Duration `json:"maxDuration"`
	// Approval is "auto" (policy approves at once) or "human".
	Approval string `json:"approval"`
	// ApproverGroup is the Cedar Group whose members may approve (the
	// approve_grant policies see it as context.approverGroup). Required for
	// human approval.
	ApproverGroup string `json:"approverGroup,omitempty"`
	// TaskBound binds each grant to the task named in the request
	// (context.task), so it cannot be used for another task.
	TaskBound bool `json:"taskBound,omitempty"`
}

// Approval kinds.
const (
	ApprovalAuto  = "auto"
	ApprovalHuman = "human"
)

// MaxGrantDuration is the longest a declaration may allow.
const MaxGrantDuration = 24 * time.Hour

// Duration is a time.Duration written as "15m" in YAML and JSON.
type Duration struct{ time.Duration }

// UnmarshalJSON parses a Go duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := yaml.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration: want a string such as \"15m\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
}

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return []byte(`"` + d.String() + `"`), nil }

func parseGrantables(data []byte) (*Grantables, error) {
	var g Grantables
	if err := yaml.UnmarshalStrict(data, &g); err != nil {
		return nil, err
	}
	if g.RequestTTL.Duration == 0 {
		g.RequestTTL.Duration = 10 * time.Minute
	}
	if g.TaskTTL.Duration == 0 {
		g.TaskTTL.Duration = 24 * time.Hour
	}
	return &g, nil
}

// check refuses declarations the rest of the bundle cannot honour.
func (g *Grantables) check(m *Mapping, entities types.EntityMap) error {
	var errs []error
	seen := map[string]bool{}
	for i, d := range g.Grantable {
		at := fmt.Sprintf("grantable[%d]", i)
		if d.Name == "" {
			errs = append(errs, fmt.Errorf("%s.name: required", at))
		} else if seen[d.Name] {
			errs = append(errs, fmt.Errorf("%s.name: %q declared twice", at, d.Name))
		}
		seen[d.Name] = true
		if len(d.Actions) == 0 {
			errs = append(errs, fmt.Errorf("%s.actions: required", at))
		}
		for _, a := range d.Actions {
			if _, ok := m.Actions[a]; !ok {
				errs = append(errs, fmt.Errorf("%s.actions: %q is not a mapped action", at, a))
			}
		}
		if _, ok := m.ResourceTypes[d.ResourceType]; !ok {
			errs = append(errs, fmt.Errorf("%s.resourceType: %q is not a mapped resource type", at, d.ResourceType))
		}
		if len(d.Resources) == 0 {
			errs = append(errs, fmt.Errorf("%s.resources: required (ids or patterns such as \"payments/*\")", at))
		}
		for _, p := range d.Resources {
			if _, err := path.Match(p, ""); err != nil {
				errs = append(errs, fmt.Errorf("%s.resources: bad pattern %q: %w", at, p, err))
			}
		}
		if d.MaxDuration.Duration <= 0 || d.MaxDuration.Duration > MaxGrantDuration {
			errs = append(errs, fmt.Errorf("%s.maxDuration: want more than 0 and at most %s", at, MaxGrantDuration))
		}
		switch d.Approval {
		case ApprovalAuto:
		case ApprovalHuman:
			if d.ApproverGroup == "" {
				errs = append(errs, fmt.Errorf("%s.approverGroup: required for human approval", at))
			} else if _, ok := entities[types.NewEntityUID("Group", types.String(d.ApproverGroup))]; !ok {
				errs = append(errs, fmt.Errorf("%s.approverGroup: Group::%q is not in entities.json", at, d.ApproverGroup))
			}
		default:
			errs = append(errs, fmt.Errorf("%s.approval: %q is not auto or human", at, d.Approval))
		}
	}
	return errors.Join(errs...)
}

// match finds the declaration covering an AuthZEN request, if any.
func (g *Grantables) match(r *Request) (*Grantable, bool) {
	for i := range g.Grantable {
		d := &g.Grantable[i]
		if d.ResourceType != r.Resource.Type {
			continue
		}
		actionOK := false
		for _, a := range d.Actions {
			if a == r.Action.Name {
				actionOK = true
				break
			}
		}
		if !actionOK {
			continue
		}
		for _, p := range d.Resources {
			if ok, _ := path.Match(p, r.Resource.ID); ok {
				return d, true
			}
		}
	}
	return nil, false
}

// Grantable returns the declaration that makes a denial of r requestable.
// A decision determined by a forbid is never requestable, nor an allow.
func (e *Engine) Grantable(r *Request, d Decision) (*Grantable, bool) {
	if d.Allowed || len(d.Reasons) > 0 || e.c.grantables == nil {
		return nil, false
	}
	return e.c.grantables.match(r)
}

// Grantables returns the bundle's declarations (TTLs included), or nil.
func (e *Engine) Grantables() *Grantables { return e.c.grantables }
