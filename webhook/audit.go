package webhook

import (
	"context"
	"encoding/json"
	"regexp"
	"slices"

	"go.opentelemetry.io/otel/trace"
	admissionv1 "k8s.io/api/admission/v1"

	"github.com/agentguard/agentguard/audit"
)

var controlID = regexp.MustCompile(`\[(AG-[A-Z]+-[0-9]+)\]`)

// auditReview writes one decision-log record for an admission review:
// which object, who asked, the outcome and the control ids behind it.
func (s *Server) auditReview(ctx context.Context, webhook string, req *admissionv1.AdmissionRequest, resp *admissionv1.AdmissionResponse) {
	if s.opts.Audit == nil || req == nil || resp == nil {
		return
	}
	rec := audit.Record{
		Kind:      audit.KindAdmission,
		Action:    webhook + " " + string(req.Operation),
		Namespace: req.Namespace,
		Object:    req.Kind.Kind + "/" + objectName(req),
		Event:     "requested by " + req.UserInfo.Username,
		Decision:  audit.DecisionAllow,
	}
	if e := s.Engine(); e != nil {
		rec.Revision = e.Revision()
	}
	var texts []string
	if !resp.Allowed {
		rec.Decision = audit.DecisionDeny
	} else if len(resp.Warnings) > 0 {
		rec.Decision = audit.DecisionWarn
	}
	if resp.Result != nil {
		rec.Reason = resp.Result.Message
		texts = append(texts, resp.Result.Message)
	}
	texts = append(texts, resp.Warnings...)
	for _, t := range texts {
		for _, m := range controlID.FindAllStringSubmatch(t, -1) {
			if !slices.Contains(rec.Policies, m[1]) {
				rec.Policies = append(rec.Policies, m[1])
			}
		}
	}
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		rec.TraceID, rec.SpanID = sc.TraceID().String(), sc.SpanID().String()
	}
	s.opts.Audit.Append(rec)
}

// objectName is the request's name, or the object's metadata.name or
// generateName (a CREATE may carry only those).
func objectName(req *admissionv1.AdmissionRequest) string {
	if req.Name != "" {
		return req.Name
	}
	var obj struct {
		Metadata struct {
			Name         string `json:"name"`
			GenerateName string `json:"generateName"`
		} `json:"metadata"`
	}
	if json.Unmarshal(req.Object.Raw, &obj) == nil {
		if obj.Metadata.Name != "" {
			return obj.Metadata.Name
		}
		return obj.Metadata.GenerateName
	}
	return ""
}
