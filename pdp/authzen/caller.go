package authzen

import (
	"context"
	"net/http"

	"github.com/cedar-policy/cedar-go/types"

	"github.com/agentguard/agentguard/internal/httpx"
	"github.com/agentguard/agentguard/pdp"
	"github.com/agentguard/agentguard/pdp/authn"
	"github.com/agentguard/agentguard/pdp/grants"
)

// ActionEvaluateFor is the Cedar action a PEP needs to ask about another
// subject than itself.
const ActionEvaluateFor = "evaluate_for"

// callerEntity is the Cedar entity of an authenticated caller: the entity
// the registry or bundle holds for its principal, with the groups its
// credential carries added as Group parents.
func callerEntity(eng *pdp.Engine, id *authn.Identity) types.Entity {
	e, ok := eng.Entity(id.Principal)
	if !ok {
		e = types.Entity{UID: id.Principal}
	}
	if len(id.Groups) > 0 {
		parents := e.Parents.Slice()
		for _, g := range id.Groups {
			parents = append(parents, types.NewEntityUID("Group", types.String(g)))
		}
		e.Parents = types.NewEntityUIDSet(parents...)
	}
	return e
}

// caller returns the authenticated caller of r, or nil when the server runs
// without authentication (--insecure-allow-unauthenticated).
func caller(r *http.Request) *authn.Identity {
	id, _ := authn.FromContext(r.Context())
	return id
}

// bindSubject enforces that the AuthZEN subject is the authenticated caller
// (never trust the subject in the body), unless Cedar allows the caller
// evaluate_for that subject: a gateway or MCP server asking on behalf of an
// agent. It returns a 403 error otherwise.
func (s *Server) bindSubject(ctx context.Context, eng *pdp.Engine, id *authn.Identity, subject pdp.Entity) error {
	if id == nil {
		return nil
	}
	subj, err := eng.SubjectUID(subject)
	if err != nil {
		return requestError(err)
	}
	if subj == id.Principal {
		return nil
	}
	ce := callerEntity(eng, id)
	d, err := eng.Decide(types.Request{
		Principal: id.Principal,
		Action:    types.NewEntityUID("Action", ActionEvaluateFor),
		Resource:  subj,
		Context:   types.NewRecord(types.RecordMap{pdp.ContextNow: types.NewDatetime(eng.Now())}),
	}, &ce)
	if err == nil && d.Allowed {
		s.opts.Log.DebugContext(ctx, "evaluating on behalf of another subject", "caller", id.Principal.String(), "subject", subj.String(), "policies", d.Reasons)
		return nil
	}
	return httpx.Errorf(http.StatusForbidden, "caller %s may not ask about subject %s: the subject must be the authenticated caller unless policy allows %s", id.Principal, subj, ActionEvaluateFor)
}

// grantsCaller converts an identity for the grants service.
func grantsCaller(eng *pdp.Engine, id *authn.Identity) grants.Caller {
	return grants.Caller{Entity: callerEntity(eng, id)}
}
