package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// cedarUID is a Cedar entity reference in the JSON entities format.
type cedarUID struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

// cedarRef is an entity-typed attribute value.
type cedarRef struct {
	Entity cedarUID `json:"__entity"`
}

type cedarEntity struct {
	UID     cedarUID       `json:"uid"`
	Attrs   map[string]any `json:"attrs"`
	Parents []cedarUID     `json:"parents"`
}

// WriteBundle writes an agentguard bundle to dir: dir/pdp/ holds the schema,
// policies and mapping copied from policiesDir and the workload's
// entities.json. It returns dir, the value for `serve --bundle`.
func WriteBundle(dir, policiesDir string, w *Workload) (string, error) {
	pdpDir := filepath.Join(dir, "pdp")
	if err := os.MkdirAll(pdpDir, 0o755); err != nil {
		return "", err
	}
	files, err := os.ReadDir(policiesDir)
	if err != nil {
		return "", fmt.Errorf("read policies: %w", err)
	}
	copied := 0
	for _, f := range files {
		name := f.Name()
		if f.IsDir() || !bundled(name) {
			continue
		}
		b, err := os.ReadFile(filepath.Join(policiesDir, name))
		if err != nil {
			return "", fmt.Errorf("read policies: %w", err)
		}
		if err := os.WriteFile(filepath.Join(pdpDir, name), b, 0o644); err != nil {
			return "", err
		}
		copied++
	}
	if copied == 0 {
		return "", fmt.Errorf("no *.cedar, *.cedarschema or mapping.yaml in %q", policiesDir)
	}
	b, err := json.Marshal(w.CedarEntities())
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(pdpDir, "entities.json"), b, 0o644); err != nil {
		return "", err
	}
	// Every bundle names itself in a .manifest (the server refuses one
	// without).
	manifest := `{"name": "loadgen", "revision": "1", "roots": ["pdp"]}` + "\n"
	if err := os.WriteFile(filepath.Join(dir, ".manifest"), []byte(manifest), 0o644); err != nil {
		return "", err
	}
	return dir, nil
}

// bundled reports whether a file of the policies directory goes into the
// bundle: the schema, policies and mapping. entities.json is the workload's
// own; grants.yaml is left out because its declarations name the default
// bundle's entities (approver groups), and the benchmark requests no grants.
func bundled(name string) bool {
	return strings.HasSuffix(name, ".cedar") || strings.HasSuffix(name, ".cedarschema") || name == "mapping.yaml"
}

// CedarEntities returns the workload as Cedar JSON entities, in the shape of
// policies/pdp/entities.json.
func (w *Workload) CedarEntities() []cedarEntity {
	tenant := func(id string) cedarUID { return cedarUID{"Tenant", id} }
	var es []cedarEntity
	for _, t := range w.Tenants {
		es = append(es, cedarEntity{UID: tenant(t), Attrs: map[string]any{}, Parents: []cedarUID{}})
	}
	for _, s := range w.Servers {
		es = append(es, cedarEntity{
			UID:     cedarUID{"ToolServer", s.ID},
			Attrs:   map[string]any{"tenant": cedarRef{tenant(s.Tenant)}},
			Parents: []cedarUID{tenant(s.Tenant)},
		})
	}
	for _, t := range w.Tools {
		es = append(es, cedarEntity{
			UID: cedarUID{"Tool", t.ID},
			Attrs: map[string]any{
				"tenant":      cedarRef{tenant(t.Tenant)},
				"sensitivity": t.Sensitivity,
				"readOnly":    t.ReadOnly,
			},
			Parents: []cedarUID{{"ToolServer", t.Server}},
		})
	}
	for _, a := range w.Agents {
		allowed := make([]cedarRef, len(a.Allowed))
		for i, id := range a.Allowed {
			allowed[i] = cedarRef{cedarUID{"Tool", id}}
		}
		es = append(es, cedarEntity{
			UID: cedarUID{"Agent", a.ID},
			Attrs: map[string]any{
				"tenant":       cedarRef{tenant(a.Tenant)},
				"mode":         a.Mode,
				"allowedTools": allowed,
			},
			Parents: []cedarUID{tenant(a.Tenant)},
		})
	}
	return es
}
