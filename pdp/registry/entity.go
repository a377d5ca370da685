package registry

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/cedar-policy/cedar-go/types"
	"github.com/cedar-policy/cedar-go/x/exp/schema"
	"github.com/cedar-policy/cedar-go/x/exp/schema/resolved"
	"github.com/cedar-policy/cedar-go/x/exp/schema/validate"
	corev1 "k8s.io/api/core/v1"
)

// Labels and annotations the registry reads.
const (
	// LabelAgent marks a ServiceAccount as an agent's identity.
	LabelAgent = "agentguard.io/agent"
	// LabelTenant on a namespace names the tenant its agents belong to.
	LabelTenant = "agentguard.io/tenant"
	// AnnotationOwner names who is responsible for the agent.
	AnnotationOwner = "agentguard.io/owner"
	// AnnotationAllowedTools lists the Tool ids the agent may call,
	// comma-separated.
	AnnotationAllowedTools = "agentguard.io/allowed-tools"
	// KeyMode, as a label or annotation, is "autonomous" or "user-delegated".
	KeyMode = "agentguard.io/mode"
)

// Cedar entity types (policies/pdp/schema.cedarschema).
const (
	AgentType  types.EntityType = "Agent"
	TenantType types.EntityType = "Tenant"
	ToolType   types.EntityType = "Tool"
)

// Agent modes.
const (
	ModeAutonomous    = "autonomous"
	ModeUserDelegated = "user-delegated"
)

// AgentUID is the entity UID of a ServiceAccount: Agent::"<ns>/<sa>".
func AgentUID(namespace, serviceAccount string) types.EntityUID {
	return types.NewEntityUID(AgentType, types.String(namespace+"/"+serviceAccount))
}

// buildAgent returns the full Agent entity of sa; ns may be nil (not seen
// yet).
func buildAgent(sa *corev1.ServiceAccount, ns *corev1.Namespace, defaultTenant string) (types.Entity, error) {
	tenant := defaultTenant
	if ns != nil {
		if t, ok := ns.Labels[LabelTenant]; ok {
			tenant = t
		}
	}
	if strings.TrimSpace(tenant) == "" {
		return types.Entity{}, fmt.Errorf("namespace %q has no %s label (and there is no default tenant)", sa.Namespace, LabelTenant)
	}
	mode, ok := sa.Labels[KeyMode]
	if !ok {
		mode, ok = sa.Annotations[KeyMode]
	}
	if !ok {
		mode = ModeAutonomous
	}
	if mode != ModeAutonomous && mode != ModeUserDelegated {
		return types.Entity{}, fmt.Errorf("%s is %q, want %q or %q", KeyMode, mode, ModeAutonomous, ModeUserDelegated)
	}
	tools, err := parseTools(sa.Annotations[AnnotationAllowedTools])
	if err != nil {
		return types.Entity{}, err
	}
	tenantUID := types.NewEntityUID(TenantType, types.String(tenant))
	attrs := types.RecordMap{
		"tenant":         tenantUID,
		"allowedTools":   types.NewSet(tools...),
		"mode":           types.String(mode),
		"namespace":      types.String(sa.Namespace),
		"serviceAccount": types.String(sa.Name),
	}
	if owner, ok := sa.Annotations[AnnotationOwner]; ok {
		attrs["owner"] = types.String(owner)
	}
	tags := types.RecordMap{}
	for k, v := range sa.Labels {
		tags[types.String(k)] = types.String(v)
	}
	return types.Entity{
		UID:        AgentUID(sa.Namespace, sa.Name),
		Parents:    types.NewEntityUIDSet(tenantUID),
		Attributes: types.NewRecord(attrs),
		Tags:       types.NewRecord(tags),
	}, nil
}

// parseTools parses the allowed-tools annotation.
func parseTools(s string) ([]types.Value, error) {
	var ids []string
	for part := range strings.SplitSeq(s, ",") {
		id := strings.TrimSpace(part)
		if id == "" {
			continue
		}
		if strings.ContainsAny(id, " \t\n\"") {
			return nil, fmt.Errorf("%s: tool id %q contains whitespace or quotes", AnnotationAllowedTools, id)
		}
		ids = append(ids, id)
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	out := make([]types.Value, len(ids))
	for i, id := range ids {
		out[i] = types.NewEntityUID(ToolType, types.String(id))
	}
	return out, nil
}

// conformer fits full Agent entities to a schema.
type conformer struct {
	agent     resolved.Entity
	validator *validate.Validator
}

// newConformer parses a Cedar schema (human-readable format) that must
// declare the Agent entity type.
func newConformer(data []byte) (*conformer, error) {
	var s schema.Schema
	if err := s.UnmarshalCedar(data); err != nil {
		return nil, fmt.Errorf("parse schema: %w", err)
	}
	rs, err := s.Resolve()
	if err != nil {
		return nil, fmt.Errorf("resolve schema: %w", err)
	}
	agent, ok := rs.Entities[AgentType]
	if !ok {
		return nil, errors.New("schema declares no Agent entity type")
	}
	return &conformer{agent: agent, validator: validate.New(rs, validate.WithStrict())}, nil
}

// conform keeps the attributes (and tags) the schema declares and validates
// the result.
func (c *conformer) conform(full types.Entity) (types.Entity, error) {
	if c == nil {
		return full, nil
	}
	attrs := types.RecordMap{}
	for k, v := range full.Attributes.All() {
		if _, ok := c.agent.Shape[k]; ok {
			attrs[k] = v
		}
	}
	e := types.Entity{UID: full.UID, Parents: full.Parents, Attributes: types.NewRecord(attrs)}
	if c.agent.Tags != nil {
		e.Tags = full.Tags
	}
	if err := c.validator.Entity(e); err != nil {
		return types.Entity{}, fmt.Errorf("does not conform to the schema: %w", err)
	}
	return e, nil
}
