// Package registry is the PDP's agent registry in a cluster ("know your
// agents", AG-SEC-012): every ServiceAccount labelled `agentguard.io/agent`
// is a Cedar `Agent` entity, kept current by client-go informers, so that a
// caller authenticated as `Agent::"<namespace>/<serviceaccount>"` (see
// pdp/authn) is evaluated with the attributes the cluster holds for it, not
// with anything it claims.
//
// A Registry implements cedar-go's types.EntityGetter: pass it to the engine
// as the dynamic entities consulted before the bundle's. It is safe for
// concurrent use; Changed and Revision tell the PDP when it changed.
//
// # From ServiceAccount to entity
//
// For ServiceAccount <sa> in namespace <ns>:
//
//	uid            Agent::"<ns>/<sa>"
//	parents        Tenant::"<tenant>"
//	tenant         Tenant::"<tenant>", from the namespace label agentguard.io/tenant
//	               (Options.DefaultTenant when the label is absent; without
//	               either the agent is left out, see Problems)
//	allowedTools   Set<Tool>, from the annotation agentguard.io/allowed-tools:
//	               comma-separated Tool ids, e.g. "github/search_issues, github/create_issue"
//	mode           String, from the label or annotation agentguard.io/mode (the
//	               label wins): "autonomous" (default) or "user-delegated"
//	namespace      String, <ns>
//	serviceAccount String, <sa>
//	owner          String, from the annotation agentguard.io/owner, when set
//	tags           the ServiceAccount's labels, as Cedar entity tags (String)
//
// Labels are tags rather than a record attribute because a Cedar schema
// cannot type a record with arbitrary keys; policies read them with
// `principal.hasTag("team") && principal.getTag("team") == "payments"`.
//
// # Schema
//
// Cedar entity records are closed: an entity with an attribute its schema
// does not declare does not validate. With Options.Schema (or SetSchema) the
// Registry keeps only the attributes the schema declares for Agent, keeps the
// tags only if the schema declares `tags String` for Agent, and validates
// the result; an agent that still does not validate (say, a required
// attribute it cannot supply) is left out and reported by Problems, so a
// policy never sees a half-built principal. The default bundle's schema
// (policies/pdp/schema.cedarschema) declares
//
//	entity Agent in [Tenant] { tenant: Tenant, allowedTools: Set<Tool>, mode: String };
//
// so its agents carry tenant, allowedTools and mode. To let policies use
// the rest, extend the declaration:
//
//	entity Agent in [Tenant] {
//	  tenant: Tenant, allowedTools: Set<Tool>, mode: String,
//	  namespace?: String, serviceAccount?: String, owner?: String,
//	} tags String;
//
// Without a schema every attribute above is kept.
//
// # Standalone
//
// Without a cluster there is no Registry: agents come from the bundle's
// entities.json, which the engine already serves.
//
// # RBAC
//
// The PDP needs get, list and watch on serviceaccounts (in Options.Namespace,
// or cluster-wide) and on namespaces.
package registry
