package pdp

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/cedar-policy/cedar-go/types"
	"github.com/cedar-policy/cedar-go/x/exp/schema/resolved"
	"sigs.k8s.io/yaml"
)

// Mapping says how AuthZEN names become Cedar names. It is the bundle's
// pdp/mapping.yaml; without one, every entity type and action the schema
// declares maps to itself.
type Mapping struct {
	// SubjectTypes maps AuthZEN subject.type to a Cedar entity type.
	SubjectTypes map[string]types.EntityType `json:"subjectTypes"`
	// ResourceTypes maps AuthZEN resource.type to a Cedar entity type.
	ResourceTypes map[string]types.EntityType `json:"resourceTypes"`
	// Actions maps AuthZEN action.name to a Cedar action id, optionally with
	// its namespace ("Ns::Action::\"id\"" is written "Ns::id").
	Actions map[string]string `json:"actions"`
}

func parseMapping(data []byte) (*Mapping, error) {
	var m Mapping
	if err := yaml.UnmarshalStrict(data, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// defaultMapping maps every schema entity type and action to itself.
func defaultMapping(s *resolved.Schema) *Mapping {
	m := &Mapping{
		SubjectTypes:  map[string]types.EntityType{},
		ResourceTypes: map[string]types.EntityType{},
		Actions:       map[string]string{},
	}
	for et := range s.Entities {
		m.SubjectTypes[string(et)] = et
		m.ResourceTypes[string(et)] = et
	}
	for uid := range s.Actions {
		m.Actions[actionName(uid)] = actionName(uid)
	}
	return m
}

// check refuses a mapping that names types or actions the schema lacks.
func (m *Mapping) check(s *resolved.Schema) error {
	for _, tbl := range []struct {
		name string
		m    map[string]types.EntityType
	}{{"subjectTypes", m.SubjectTypes}, {"resourceTypes", m.ResourceTypes}} {
		for k, et := range tbl.m {
			if _, ok := s.Entities[et]; !ok {
				return fmt.Errorf("%s.%s: entity type %q is not in the schema", tbl.name, k, et)
			}
		}
	}
	for k, a := range m.Actions {
		uid := types.NewEntityUID(actionType(a), types.String(actionID(a)))
		if _, ok := s.Actions[uid]; !ok {
			return fmt.Errorf("actions.%s: action %s is not in the schema", k, uid)
		}
	}
	return nil
}

// actionType is the Cedar entity type of a mapped action name: "Action", or
// "Ns::Action" for "Ns::name".
func actionType(name string) types.EntityType {
	if i := strings.LastIndex(name, "::"); i >= 0 {
		return types.EntityType(name[:i] + "::Action")
	}
	return "Action"
}

func actionID(name string) string {
	if i := strings.LastIndex(name, "::"); i >= 0 {
		return name[i+2:]
	}
	return name
}

func actionName(uid types.EntityUID) string {
	if t := string(uid.Type); t != "Action" {
		return strings.TrimSuffix(t, "Action") + string(uid.ID)
	}
	return string(uid.ID)
}

func keys[V any](m map[string]V) string {
	ks := slices.Sorted(maps.Keys(m))
	return strings.Join(ks, ", ")
}
