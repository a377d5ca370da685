package main

import (
	"fmt"
	"math/rand/v2"
)

// Sensitivities a generated tool can have; "high" tools are never allowed by
// the default bundle (they need a just-in-time grant).
var sensitivities = []string{"low", "medium", "high"}

// Agent modes, as in policies/pdp/schema.cedarschema.
const (
	modeAutonomous    = "autonomous"
	modeUserDelegated = "user-delegated"
)

// WorkloadOptions size the generated workload.
type WorkloadOptions struct {
	// Tenants is the number of tenants. Default 20.
	Tenants int
	// Agents is the number of agents per tenant. Default 50.
	Agents int
	// Tools is the number of tools per tenant. Default 40.
	Tools int
	// Servers is the number of tool servers per tenant the tools are spread
	// over. Default 4.
	Servers int
	// AllowFraction is the probability that an agent's allowlist names a
	// given tool of its tenant. Default 0.3.
	AllowFraction float64
	// DelegatedFraction is the fraction of user-delegated agents. Default 0.3.
	DelegatedFraction float64
	// ForeignFraction is the fraction of agents whose allowlist also names a
	// tool of another tenant (a misconfiguration the cross-tenant forbid must
	// catch). Default 0.1.
	ForeignFraction float64
	// Requests is the number of requests to generate. Default 200000.
	Requests int
	// Seed makes the workload reproducible. Default 1.
	Seed uint64
}

func (o *WorkloadOptions) setDefaults() {
	if o.Tenants <= 0 {
		o.Tenants = 20
	}
	if o.Agents <= 0 {
		o.Agents = 50
	}
	if o.Tools <= 0 {
		o.Tools = 40
	}
	if o.Servers <= 0 {
		o.Servers = 4
	}
	if o.Servers > o.Tools {
		o.Servers = o.Tools
	}
	if o.AllowFraction <= 0 {
		o.AllowFraction = 0.3
	}
	if o.DelegatedFraction <= 0 {
		o.DelegatedFraction = 0.3
	}
	if o.ForeignFraction <= 0 {
		o.ForeignFraction = 0.1
	}
	if o.Requests <= 0 {
		o.Requests = 200000
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
}

// ToolServer is a generated tool server; ID is "<tenant>/<server>".
type ToolServer struct {
	ID, Tenant string
}

// Tool is a generated tool; ID is "<server>/<tool>" where the server part is
// unique across tenants.
type Tool struct {
	ID, Server, Tenant, Sensitivity string
	ReadOnly                        bool
}

// Agent is a generated agent; ID is "<namespace>/<serviceaccount>".
type Agent struct {
	ID, Tenant, Mode string
	// Allowed lists the tool ids of the allowlist, in generation order.
	Allowed []string
	allowed map[string]bool
}

// Workload is the generated world both servers decide over.
type Workload struct {
	Tenants []string
	Servers []ToolServer
	Tools   []Tool
	Agents  []Agent

	tools      map[string]*Tool
	agents     map[string]*Agent
	tenantTool map[string][]int // tenant → indexes into Tools
}

// Request is one generated call_tool request with the decision the default
// bundle's policies must give it.
type Request struct {
	Agent, Tool string
	// User is the user the call is made for; empty when none is sent.
	User   string
	Expect bool
	// Kind says how the request was picked (for the mix summary).
	Kind string
}

// Request kinds.
const (
	kindAllowlisted = "allowlisted"
	kindOwnTenant   = "own-tenant"
	kindCrossTenant = "cross-tenant"
	kindRandom      = "random"
)

// Generate builds the workload and its requests, deterministically from
// o.Seed.
func Generate(o WorkloadOptions) (*Workload, []Request) {
	o.setDefaults()
	rng := rand.New(rand.NewPCG(o.Seed, 0x61676775617264))
	w := &Workload{tenantTool: map[string][]int{}}
	for t := range o.Tenants {
		tenant := fmt.Sprintf("t%02d", t)
		w.Tenants = append(w.Tenants, tenant)
		for s := range o.Servers {
			w.Servers = append(w.Servers, ToolServer{ID: fmt.Sprintf("%s/srv%d", tenant, s), Tenant: tenant})
		}
		for i := range o.Tools {
			s := i % o.Servers
			w.tenantTool[tenant] = append(w.tenantTool[tenant], len(w.Tools))
			w.Tools = append(w.Tools, Tool{
				ID:          fmt.Sprintf("%s-srv%d/tool%02d", tenant, s, i),
				Server:      fmt.Sprintf("%s/srv%d", tenant, s),
				Tenant:      tenant,
				Sensitivity: pickSensitivity(rng),
				ReadOnly:    rng.IntN(2) == 0,
			})
		}
	}
	for _, tenant := range w.Tenants {
		own := w.tenantTool[tenant]
		for a := range o.Agents {
			ag := Agent{
				ID:     fmt.Sprintf("%s-agents/agent%02d", tenant, a),
				Tenant: tenant,
				Mode:   modeAutonomous,
			}
			if rng.Float64() < o.DelegatedFraction {
				ag.Mode = modeUserDelegated
			}
			for _, ti := range own {
				if rng.Float64() < o.AllowFraction {
					ag.Allowed = append(ag.Allowed, w.Tools[ti].ID)
				}
			}
			if len(ag.Allowed) == 0 {
				ag.Allowed = append(ag.Allowed, w.Tools[own[rng.IntN(len(own))]].ID)
			}
			if o.Tenants > 1 && rng.Float64() < o.ForeignFraction {
				ag.Allowed = append(ag.Allowed, w.Tools[w.foreignTool(rng, tenant)].ID)
			}
			w.Agents = append(w.Agents, ag)
		}
	}
	w.index()

	reqs := make([]Request, o.Requests)
	for i := range reqs {
		reqs[i] = w.pickRequest(rng)
	}
	return w, reqs
}

// index builds the lookup maps once Tools and Agents are final.
func (w *Workload) index() {
	w.tools = make(map[string]*Tool, len(w.Tools))
	for i := range w.Tools {
		w.tools[w.Tools[i].ID] = &w.Tools[i]
	}
	w.agents = make(map[string]*Agent, len(w.Agents))
	for i := range w.Agents {
		ag := &w.Agents[i]
		ag.allowed = make(map[string]bool, len(ag.Allowed))
		for _, id := range ag.Allowed {
			ag.allowed[id] = true
		}
		w.agents[ag.ID] = ag
	}
}

func pickSensitivity(rng *rand.Rand) string {
	switch r := rng.Float64(); {
	case r < 0.5:
		return sensitivities[0]
	case r < 0.85:
		return sensitivities[1]
	default:
		return sensitivities[2]
	}
}

// foreignTool returns the index of a random tool of a tenant other than tenant.
func (w *Workload) foreignTool(rng *rand.Rand, tenant string) int {
	for {
		other := w.Tenants[rng.IntN(len(w.Tenants))]
		if other != tenant {
			ts := w.tenantTool[other]
			return ts[rng.IntN(len(ts))]
		}
	}
}

// pickRequest draws one request: mostly allowlisted tools (so that a good
// share is allowed), then tools of the own tenant outside the allowlist,
// cross-tenant tools, and anything at all.
func (w *Workload) pickRequest(rng *rand.Rand) Request {
	ag := &w.Agents[rng.IntN(len(w.Agents))]
	r := Request{Agent: ag.ID}
	switch p := rng.Float64(); {
	case p < 0.5:
		r.Kind, r.Tool = kindAllowlisted, ag.Allowed[rng.IntN(len(ag.Allowed))]
	case p < 0.7:
		own := w.tenantTool[ag.Tenant]
		r.Kind, r.Tool = kindOwnTenant, w.Tools[own[rng.IntN(len(own))]].ID
	case p < 0.85 && len(w.Tenants) > 1:
		r.Kind, r.Tool = kindCrossTenant, w.Tools[w.foreignTool(rng, ag.Tenant)].ID
		// An allowlisted foreign tool is the case only the forbid denies.
		if last := ag.Allowed[len(ag.Allowed)-1]; w.tools[last].Tenant != ag.Tenant && rng.IntN(2) == 0 {
			r.Tool = last
		}
	default:
		r.Kind, r.Tool = kindRandom, w.Tools[rng.IntN(len(w.Tools))].ID
	}
	// Delegated agents mostly send their user; some forget, which the
	// forbid must catch. Autonomous agents sometimes send one too.
	userP := 0.3
	if ag.Mode == modeUserDelegated {
		userP = 0.8
	}
	if rng.Float64() < userP {
		r.User = fmt.Sprintf("user%03d@%s.example", rng.IntN(1000), ag.Tenant)
	}
	r.Expect = w.Decide(r.Agent, r.Tool, r.User != "")
	return r
}

// Decide is the reference decision of policies/pdp/tools.cedar for
// call_tool: permit an allowlisted, not high-sensitivity tool of the agent's
// own tenant, unless a forbid applies (cross-tenant; user-delegated agent
// without a user). Unknown agents or tools are denied.
func (w *Workload) Decide(agentID, toolID string, hasUser bool) bool {
	ag, tool := w.agents[agentID], w.tools[toolID]
	if ag == nil || tool == nil {
		return false
	}
	permit := tool.Tenant == ag.Tenant && ag.allowed[toolID] && tool.Sensitivity != "high"
	forbidCrossTenant := tool.Tenant != ag.Tenant
	forbidNoUser := ag.Mode == modeUserDelegated && !hasUser
	return permit && !forbidCrossTenant && !forbidNoUser
}
