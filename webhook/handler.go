package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/agentguard/agentguard/internal/httpx"
	"github.com/agentguard/agentguard/webhook/guardrails"
)

// endpoint is /validate or /mutate.
type endpoint struct {
	s      *Server
	name   string // "validate" or "mutate"
	mutate bool
}

// ServeHTTP handles one AdmissionReview. Bad input (wrong method, content
// type, size, malformed review or object) gets a 4xx with a JSON error
// body; everything else gets an AdmissionReview, denying when the
// guardrails cannot run (fail closed).
func (h *endpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	ctx, span := h.s.tracer.Start(r.Context(), "admission."+h.name, trace.WithSpanKind(trace.SpanKindServer))
	defer span.End()
	outcome := "error"
	defer func() {
		h.s.metrics.duration.Record(ctx, time.Since(start).Seconds(), metric.WithAttributes(attribute.String("webhook", h.name)))
		h.s.metrics.requests.Add(ctx, 1, metric.WithAttributes(attribute.String("webhook", h.name), attribute.String("outcome", outcome)))
	}()
	var uid string
	defer func() {
		if v := recover(); v != nil {
			if err, ok := v.(error); ok && errors.Is(err, http.ErrAbortHandler) {
				panic(v)
			}
			span.SetStatus(codes.Error, "panic")
			h.s.log.ErrorContext(ctx, "panic in admission handler", "webhook", h.name, "uid", uid, "panic", fmt.Sprint(v))
			httpx.WriteJSON(w, http.StatusInternalServerError, httpx.ErrorBody{
				Error: fmt.Sprintf("internal error reviewing request %s", uid), Status: http.StatusInternalServerError,
			})
		}
	}()

	body, err := httpx.ReadJSONBody(w, r, h.s.opts.MaxBodyBytes)
	if err != nil {
		outcome = "bad_request"
		httpx.WriteError(w, r, err)
		return
	}
	review, err := decodeReview(body)
	if err != nil {
		outcome = "bad_request"
		httpx.WriteError(w, r, httpx.Errorf(http.StatusBadRequest, "malformed AdmissionReview: %v", err))
		return
	}
	req := review.Request
	uid = string(req.UID)
	span.SetAttributes(attribute.String("admission.uid", uid), attribute.String("k8s.kind", req.Kind.Kind),
		attribute.String("k8s.namespace.name", req.Namespace), attribute.String("admission.operation", string(req.Operation)))

	resp, outc, err := h.review(ctx, req)
	if errors.Is(err, ErrBadObject) {
		outcome = "bad_request"
		httpx.WriteError(w, r, httpx.Errorf(http.StatusBadRequest, "request %s: %v", uid, err))
		return
	}
	outcome = outc
	resp.UID = req.UID
	span.SetAttributes(attribute.Bool("admission.allowed", resp.Allowed))
	h.s.auditReview(ctx, h.name, req, resp)
	out := admissionv1.AdmissionReview{TypeMeta: review.TypeMeta, Response: resp}
	httpx.WriteJSON(w, http.StatusOK, out)
}

// review runs the guardrails and builds the AdmissionResponse. Errors other
// than ErrBadObject become denials.
func (h *endpoint) review(ctx context.Context, req *admissionv1.AdmissionRequest) (*admissionv1.AdmissionResponse, string, error) {
	e := h.s.Engine()
	if e == nil {
		return deny(http.StatusServiceUnavailable, "[AG-GOV-001] agentguard has not loaded its admission config yet; retry shortly"), "not_ready", nil
	}
	in := &Request{
		Kind:        schema.GroupKind{Group: req.Kind.Group, Kind: req.Kind.Kind},
		Operation:   string(req.Operation),
		SubResource: req.SubResource,
		Namespace:   req.Namespace,
		Name:        req.Name,
		Object:      req.Object.Raw,
		OldObject:   req.OldObject.Raw,
		User:        &guardrails.User{Username: req.UserInfo.Username, Groups: req.UserInfo.Groups},
	}
	var (
		res *Result
		err error
	)
	if h.mutate {
		res, err = h.s.reviewer.Mutate(ctx, e, in)
	} else {
		res, err = h.s.reviewer.Validate(ctx, e, in)
	}
	if err != nil {
		if errors.Is(err, ErrBadObject) {
			return nil, "", err
		}
		h.s.log.ErrorContext(ctx, "admission review failed", "webhook", h.name, "uid", req.UID, "error", err)
		return deny(http.StatusInternalServerError, "[AG-GOV-001] agentguard could not evaluate this request, so it is refused: "+err.Error()), "error", nil
	}
	if !res.Supported {
		return &admissionv1.AdmissionResponse{Allowed: true}, "unsupported", nil
	}
	if h.mutate {
		resp := &admissionv1.AdmissionResponse{Allowed: true}
		if len(res.Mutation.Patch) == 0 {
			return resp, "unchanged", nil
		}
		patch, err := json.Marshal(res.Mutation.Patch)
		if err != nil {
			return nil, "", err
		}
		pt := admissionv1.PatchTypeJSONPatch
		resp.Patch, resp.PatchType = patch, &pt
		h.s.log.DebugContext(ctx, "mutated", "uid", req.UID, "kind", req.Kind.Kind, "namespace", req.Namespace, "name", res.Name, "changes", res.Mutation.Changes)
		return resp, "mutated", nil
	}
	d := res.Decision
	for _, v := range d.Violations {
		h.s.metrics.violations.Add(ctx, 1, metric.WithAttributes(
			attribute.String("control", v.ID), attribute.String("check", v.Check), attribute.String("mode", string(v.Mode))))
	}
	resp := &admissionv1.AdmissionResponse{Allowed: d.Allowed, Warnings: d.Warnings()}
	if audits := d.Audits(); len(audits) > 0 {
		ids := make([]string, 0, len(audits))
		for _, v := range audits {
			ids = append(ids, v.ID)
		}
		resp.AuditAnnotations = map[string]string{"audit-violations": strings.Join(ids, ",")}
	}
	outcome := "allowed"
	switch {
	case d.Exempt != "":
		outcome = "exempt"
	case !d.Allowed:
		outcome = "denied"
		resp.Result = &metav1.Status{
			Status: metav1.StatusFailure, Code: http.StatusForbidden, Reason: metav1.StatusReasonForbidden,
			Message: d.Reason(),
		}
	}
	if len(d.Violations) > 0 {
		h.s.log.InfoContext(ctx, "admission decision", "uid", req.UID, "kind", req.Kind.Kind, "namespace", req.Namespace,
			"name", res.Name, "user", req.UserInfo.Username, "allowed", d.Allowed, "violations", d.Violations)
	}
	return resp, outcome, nil
}

func deny(code int32, msg string) *admissionv1.AdmissionResponse {
	return &admissionv1.AdmissionResponse{Allowed: false, Result: &metav1.Status{
		Status: metav1.StatusFailure, Code: code, Message: msg,
	}}
}

// decodeReview decodes an AdmissionReview v1 and checks what the handlers
// rely on: the type, a request, a UID and a kind. Unknown fields are
// tolerated (newer API servers may add some); trailing data is not.
func decodeReview(body []byte) (*admissionv1.AdmissionReview, error) {
	review := &admissionv1.AdmissionReview{}
	// JSON v2 is several times faster than encoding/json here, matches
	// names case-sensitively like the API server, and rejects trailing
	// data, duplicate names and invalid UTF-8.
	if err := jsonv2.Unmarshal(body, review); err != nil {
		return nil, err
	}
	switch {
	case review.APIVersion != admissionv1.SchemeGroupVersion.String():
		return nil, fmt.Errorf("apiVersion %q: want %s", review.APIVersion, admissionv1.SchemeGroupVersion)
	case review.Kind != "AdmissionReview":
		return nil, fmt.Errorf("kind %q: want AdmissionReview", review.Kind)
	case review.Request == nil:
		return nil, errors.New("no request")
	case review.Request.UID == "":
		return nil, errors.New("request has no uid")
	case review.Request.Kind.Kind == "":
		return nil, errors.New("request has no kind")
	}
	return review, nil
}
