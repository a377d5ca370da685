package kube

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/kube-openapi/pkg/validation/strfmt"

	"github.com/agentguard/agentguard/api/v1alpha1"
	"github.com/agentguard/agentguard/pdp"
	"github.com/agentguard/agentguard/pdp/grants"
)

// Label keys; see the package documentation.
const (
	labelPrincipal   = "agentguard.io/principal"
	labelState       = "agentguard.io/state"
	labelIdempotency = "agentguard.io/idempotency"
)

// objectName maps a request id to an object name, deterministically and
// injectively: ids that are valid names without dots are used as they
// are, every other id becomes "sha256." and its digest (which has a dot).
func objectName(id string) string {
	if !strings.Contains(id, ".") && len(validation.IsDNS1123Subdomain(id)) == 0 {
		return id
	}
	sum := sha256.Sum256([]byte(id))
	return "sha256." + hex.EncodeToString(sum[:])
}

// labelHash is a label value standing for parts, which may be longer than
// a label value or hold characters a label value cannot.
func labelHash(kind string, parts ...string) string {
	h := sha256.New()
	h.Write([]byte(kind))
	for _, p := range parts {
		h.Write([]byte{0})
		h.Write([]byte(p))
	}
	return hex.EncodeToString(h.Sum(nil)[:24])
}

func principalLabel(principal string) string { return labelHash("principal", principal) }

func idempotencyLabel(requester, key string) string {
	return labelHash("idempotency", requester, key)
}

// toObject converts r to an AgentGrant in namespace ns. r.Version becomes
// the resourceVersion.
func toObject(r *grants.Request, ns string) *v1alpha1.AgentGrant {
	lbls := map[string]string{
		labelPrincipal: principalLabel(r.Principal.String()),
		labelState:     string(r.Status),
	}
	if r.IdempotencyKey != "" {
		lbls[labelIdempotency] = idempotencyLabel(r.Requester, r.IdempotencyKey)
	}
	o := &v1alpha1.AgentGrant{
		TypeMeta: metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: "AgentGrant"},
		ObjectMeta: metav1.ObjectMeta{
			Name:            objectName(r.ID),
			Namespace:       ns,
			Labels:          lbls,
			ResourceVersion: r.Version,
		},
		Spec: v1alpha1.AgentGrantSpec{
			ID:             r.ID,
			Subject:        toEntity(r.Subject),
			Action:         v1alpha1.Action{Name: r.Action.Name, Properties: string(r.Action.Properties)},
			Resource:       toEntity(r.Resource),
			Principal:      v1alpha1.CedarUID(r.Principal),
			CedarAction:    v1alpha1.CedarUID(r.CedarAction),
			CedarResource:  v1alpha1.CedarUID(r.CedarResource),
			Requester:      r.Requester,
			OnBehalfOf:     r.OnBehalfOf,
			Task:           r.Task,
			Justification:  r.Justification,
			Grantable:      r.Grantable,
			Approval:       r.Approval,
			ApproverGroup:  r.ApproverGroup,
			EvaluationID:   r.EvaluationID,
			RequestedUntil: toTimestamp(r.RequestedUntil),
			CreatedAt:      toTimestamp(r.CreatedAt),
			ExpiresAt:      toTimestamp(r.ExpiresAt),
			IdempotencyKey: r.IdempotencyKey,
			BodyHash:       r.BodyHash,
		},
		Status: v1alpha1.AgentGrantStatus{
			State:         v1alpha1.GrantState(r.Status),
			ApprovalID:    r.ApprovalID,
			ApprovedBy:    r.ApprovedBy,
			ApprovedAt:    toTimestamp(r.ApprovedAt),
			ApprovedUntil: toTimestamp(r.ApprovedUntil),
		},
	}
	for _, e := range r.Events {
		o.Status.Events = append(o.Status.Events, v1alpha1.Event{Type: e.Type, Actor: e.Actor, At: toTimestamp(e.At), Reason: e.Reason})
	}
	return o
}

// fromObject converts an AgentGrant back to the request it holds.
func fromObject(o *v1alpha1.AgentGrant) (*grants.Request, error) {
	s, st := &o.Spec, &o.Status
	var errs []error
	ts := func(field string, t v1alpha1.Timestamp) time.Time {
		v, err := fromTimestamp(t)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", field, err))
		}
		return v
	}
	r := &grants.Request{
		ID:             s.ID,
		Subject:        fromEntity(s.Subject),
		Action:         pdp.Action{Name: s.Action.Name, Properties: rawJSON(s.Action.Properties)},
		Resource:       fromEntity(s.Resource),
		Principal:      grants.UID(s.Principal),
		CedarAction:    grants.UID(s.CedarAction),
		CedarResource:  grants.UID(s.CedarResource),
		Requester:      s.Requester,
		OnBehalfOf:     s.OnBehalfOf,
		Task:           s.Task,
		Justification:  s.Justification,
		Grantable:      s.Grantable,
		Approval:       s.Approval,
		ApproverGroup:  s.ApproverGroup,
		EvaluationID:   s.EvaluationID,
		RequestedUntil: ts("spec.requestedUntil", s.RequestedUntil),
		Status:         grants.Status(st.State),
		CreatedAt:      ts("spec.createdAt", s.CreatedAt),
		ExpiresAt:      ts("spec.expiresAt", s.ExpiresAt),
		ApprovalID:     st.ApprovalID,
		ApprovedBy:     st.ApprovedBy,
		ApprovedAt:     ts("status.approvedAt", st.ApprovedAt),
		ApprovedUntil:  ts("status.approvedUntil", st.ApprovedUntil),
		IdempotencyKey: s.IdempotencyKey,
		BodyHash:       s.BodyHash,
		Version:        o.ResourceVersion,
	}
	for i, e := range st.Events {
		r.Events = append(r.Events, grants.Event{Type: e.Type, Actor: e.Actor, At: ts(fmt.Sprintf("status.events[%d].at", i), e.At), Reason: e.Reason})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("decode AgentGrant %s/%s: %w", o.Namespace, o.Name, err)
	}
	return r, nil
}

func toEntity(e pdp.Entity) v1alpha1.Entity {
	return v1alpha1.Entity{Type: e.Type, ID: e.ID, Properties: string(e.Properties)}
}

func fromEntity(e v1alpha1.Entity) pdp.Entity {
	return pdp.Entity{Type: e.Type, ID: e.ID, Properties: rawJSON(e.Properties)}
}

func rawJSON(s string) json.RawMessage {
	if s == "" {
		return nil
	}
	return json.RawMessage(s)
}

// toTimestamp keeps nanoseconds and the zone offset; the zero time is
// left out.
func toTimestamp(t time.Time) v1alpha1.Timestamp {
	if t.IsZero() {
		return ""
	}
	return v1alpha1.Timestamp(t.Format(time.RFC3339Nano))
}

// fromTimestamp reads what toTimestamp writes and, for objects written by
// hand, every other form the CRD's date-time format admits.
func fromTimestamp(t v1alpha1.Timestamp) (time.Time, error) {
	if t == "" {
		return time.Time{}, nil
	}
	if v, err := time.Parse(time.RFC3339Nano, string(t)); err == nil {
		return v, nil
	}
	v, err := strfmt.ParseDateTime(string(t))
	return time.Time(v), err
}
