package main

import (
	"encoding/json"
	"os"
	"path/filepath"
)

// regoPolicy is policies/pdp/tools.cedar's call_tool semantics in Rego, over
// the input OPA gets: the AuthZEN request body itself. Allowlists are objects
// used as sets (data.agents[a].allowedTools[tool] == true), the idiomatic
// OPA layout for constant-time membership, so OPA is not handicapped.
const regoPolicy = `package agentguard.authz

# Deny by default: allowed only when a permit matches and no forbid does.
default allow := false

allow if {
	permit
	not forbid
}

agent := data.agents[input.subject.id] if input.subject.type == "agent"

tool := data.tools[input.resource.id] if input.resource.type == "tool"

# allow-allowlisted-tool-in-own-tenant
permit if {
	input.action.name == "call_tool"
	tool.tenant == agent.tenant
	agent.allowedTools[input.resource.id]
	tool.sensitivity != "high"
}

# forbid-cross-tenant
forbid if {
	input.action.name in {"call_tool", "list_tools"}
	tool.tenant != agent.tenant
}

# forbid-delegated-agent-without-user
forbid if {
	input.action.name == "call_tool"
	agent.mode == "user-delegated"
	not has_user
}

has_user if "user" in object.keys(input.context)
`

type regoAgent struct {
	Tenant       string          `json:"tenant"`
	Mode         string          `json:"mode"`
	AllowedTools map[string]bool `json:"allowedTools"`
}

type regoTool struct {
	Tenant      string `json:"tenant"`
	Server      string `json:"server"`
	Sensitivity string `json:"sensitivity"`
	ReadOnly    bool   `json:"readOnly"`
}

// regoData is the document OPA loads at the root of data.
type regoData struct {
	Agents map[string]regoAgent `json:"agents"`
	Tools  map[string]regoTool  `json:"tools"`
}

// WriteRego writes dir/policy.rego and dir/data.json for OPA and returns
// their paths.
func WriteRego(dir string, w *Workload) (policy, data string, err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", err
	}
	policy, data = filepath.Join(dir, "policy.rego"), filepath.Join(dir, "data.json")
	if err := os.WriteFile(policy, []byte(regoPolicy), 0o644); err != nil {
		return "", "", err
	}
	b, err := json.Marshal(w.RegoData())
	if err != nil {
		return "", "", err
	}
	if err := os.WriteFile(data, b, 0o644); err != nil {
		return "", "", err
	}
	return policy, data, nil
}

// RegoData returns the workload as OPA data: agents and tools keyed by id.
func (w *Workload) RegoData() regoData {
	d := regoData{Agents: map[string]regoAgent{}, Tools: map[string]regoTool{}}
	for _, a := range w.Agents {
		allowed := make(map[string]bool, len(a.Allowed))
		for _, id := range a.Allowed {
			allowed[id] = true
		}
		d.Agents[a.ID] = regoAgent{Tenant: a.Tenant, Mode: a.Mode, AllowedTools: allowed}
	}
	for _, t := range w.Tools {
		d.Tools[t.ID] = regoTool{Tenant: t.Tenant, Server: t.Server, Sensitivity: t.Sensitivity, ReadOnly: t.ReadOnly}
	}
	return d
}
