package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"

	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/agentguard/agentguard/webhook"
	"github.com/agentguard/agentguard/webhook/guardrails"
)

// namespaces is the cluster state both engines see.
var namespaces = map[string]map[string]string{
	"team-a": {guardrails.LabelTenant: "team-a"},
	"team-b": {guardrails.LabelTenant: "team-b"},
	"plain":  {},
}

type agentguard struct {
	engine  *guardrails.Engine
	handler http.Handler
	rv      *webhook.Reviewer
}

func newAgentguard(bundle string) (*agentguard, error) {
	e, err := guardrails.LoadBundle(context.Background(), bundle)
	if err != nil {
		return nil, err
	}
	labeler := webhook.NamespaceLabelerFunc(func(_ context.Context, name string) (map[string]string, error) {
		return namespaces[name], nil
	})
	dir, err := os.MkdirTemp("", "benchwebhook")
	if err != nil {
		return nil, err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	srv, err := webhook.NewServer(webhook.Options{CertDir: dir, Namespaces: labeler})
	if err != nil {
		return nil, err
	}
	srv.SetEngine(e)
	return &agentguard{engine: e, handler: srv.Handler(), rv: &webhook.Reviewer{Namespaces: labeler}}, nil
}

// time runs one complete in-process /validate request: decode the review,
// evaluate, encode the response.
func (a *agentguard) time(review []byte) error {
	req := httptest.NewRequest(http.MethodPost, "/validate", bytes.NewReader(review))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	a.handler.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		return fmt.Errorf("agentguard: status %d: %s", rec.Code, rec.Body.String())
	}
	return nil
}

// ids returns the sorted, de-duplicated control IDs agentguard reports.
func (a *agentguard) ids(ctx context.Context, review []byte) ([]string, error) {
	var r admissionv1.AdmissionReview
	if err := json.Unmarshal(review, &r); err != nil {
		return nil, err
	}
	q := r.Request
	res, err := a.rv.Validate(ctx, a.engine, &webhook.Request{
		Kind: schema.GroupKind{Group: q.Kind.Group, Kind: q.Kind.Kind}, Operation: string(q.Operation),
		Namespace: q.Namespace, Name: q.Name, Object: q.Object.Raw,
		User: &guardrails.User{Username: q.UserInfo.Username, Groups: q.UserInfo.Groups},
	})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, v := range res.Decision.Violations {
		out = append(out, v.ID)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}
