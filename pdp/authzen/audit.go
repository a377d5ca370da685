package authzen

import (
	"context"

	"go.opentelemetry.io/otel/trace"

	"github.com/agentguard/agentguard/audit"
	"github.com/agentguard/agentguard/pdp"
	"github.com/agentguard/agentguard/pdp/authn"
	"github.com/agentguard/agentguard/pdp/client"
)

// auditDecision writes one record for a decision: who asked, as whom, with
// which credential, for whom, what, why, under which revision (AG-SEC-010,
// AG-OBS-010/013). Arguments are redacted by the log.
func (s *Server) auditDecision(ctx context.Context, eng *pdp.Engine, id *authn.Identity, r *pdp.Request, d pdp.Decision, why, grantID string) {
	if s.opts.Audit == nil {
		return
	}
	rec := audit.Record{
		Kind:       audit.KindPDPDecision,
		Agent:      r.Subject.Type + ":" + r.Subject.ID,
		Tool:       r.Resource.Type + ":" + r.Resource.ID,
		Action:     r.Action.Name,
		Decision:   audit.DecisionDeny,
		Reason:     why,
		Policies:   d.Reasons,
		Revision:   d.Revision,
		DecisionID: d.ID,
		GrantID:    grantID,
		Args:       r.Resource.Properties,
	}
	if d.Allowed {
		rec.Decision = audit.DecisionAllow
	}
	if id != nil {
		rec.Instance = id.PodName
		rec.Credential = string(id.Kind) + ":" + id.CredentialID
		if subj, err := eng.SubjectUID(r.Subject); err == nil && subj != id.Principal {
			// A PEP asked on behalf of the subject.
			rec.Delegation = []string{id.Principal.String()}
		}
	}
	rec.OnBehalfOf, rec.TaskID, rec.SessionID = d.RequestString("user"), d.RequestString("task"), d.RequestString("session")
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		rec.TraceID, rec.SpanID = sc.TraceID().String(), sc.SpanID().String()
	}
	s.opts.Audit.Append(rec)
}

// auditFallback writes the fallback decisions a PEP reports.
func (s *Server) auditFallback(ctx context.Context, id *authn.Identity, b client.RecordBatch) {
	if s.opts.Audit == nil {
		return
	}
	reporter := ""
	if id != nil {
		reporter = id.Principal.String()
	}
	for _, fr := range b.Records {
		dec := audit.DecisionDeny
		if fr.Allowed {
			dec = audit.DecisionAllow
		}
		rec := audit.Record{
			Time:     fr.Time,
			Kind:     audit.KindClientFallback,
			Agent:    fr.Subject.Type + ":" + fr.Subject.ID,
			Tool:     fr.Resource.Type + ":" + fr.Resource.ID,
			Action:   fr.Action,
			Decision: dec,
			Reason:   "fallback " + fr.Mode + ": " + fr.Reason,
			Policies: fr.Policies,
			Revision: fr.Revision,
			Event:    "reported by " + reporter,
		}
		s.opts.Audit.Append(rec)
	}
	if b.Dropped > 0 {
		s.opts.Audit.Append(audit.Record{Kind: audit.KindClientFallback, Event: "dropped by " + reporter, Count: uint64(b.Dropped)})
	}
	_ = ctx
}
