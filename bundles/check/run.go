package check

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/agentguard/agentguard/pdp"
	"github.com/agentguard/agentguard/webhook"
	"github.com/agentguard/agentguard/webhook/guardrails"
)

// Kinds of test case.
const (
	KindAuthz     = "authz"
	KindAdmission = "admission"
)

// Report is the outcome of running a bundle's test cases.
type Report struct {
	Bundle   string       `json:"bundle"`
	Revision string       `json:"revision"`
	Passed   int          `json:"passed"`
	Failed   int          `json:"failed"`
	Cases    []CaseResult `json:"cases"`
	// Coverage is about the Cedar policies; nil without a pdp/ part.
	Coverage *Coverage `json:"coverage,omitempty"`
}

// CaseResult is the outcome of one case.
type CaseResult struct {
	// File is the test file inside the bundle; Name the case's name.
	File string `json:"file"`
	Name string `json:"name"`
	Kind string `json:"kind"`
	// Passed is true when the outcome matched the expectation.
	Passed bool `json:"passed"`
	// Expected and Got summarize the decision, e.g. "allow [p1]" or
	// "deny [AG-GEN-001]".
	Expected string `json:"expected"`
	Got      string `json:"got"`
	// determining are the policies that decided a passing authz case.
	determining []string
	// Failure explains a failed case.
	Failure  string        `json:"failure,omitempty"`
	Duration time.Duration `json:"durationNanos"`
}

// OK reports whether every case passed and there was at least one.
func (r *Report) OK() bool { return r.Failed == 0 && r.Passed > 0 }

// Run evaluates every test case of c and reports each. Cases run in file
// order; a failing case does not stop the others.
func Run(ctx context.Context, c *Compiled) *Report {
	r := &Report{Bundle: c.Bundle.Name(), Revision: c.Bundle.Revision(), Cases: []CaseResult{}}
	defer func() {
		if c.PDP == nil {
			return
		}
		covered := map[string]bool{}
		for _, cr := range r.Cases {
			for _, id := range cr.determining {
				covered[id] = true
			}
		}
		r.Coverage = coverage(c.Bundle, covered)
	}()
	for _, s := range c.Suites {
		if s.Authz != nil {
			for _, tc := range s.Authz.Cases {
				r.add(runAuthz(c.PDP, s.File, tc))
			}
		}
		if s.Admission != nil {
			for _, tc := range s.Admission.Cases {
				r.add(runAdmission(ctx, c.Admission, s.File, tc))
			}
		}
	}
	return r
}

func (r *Report) add(cr CaseResult) {
	if cr.Passed {
		r.Passed++
	} else {
		r.Failed++
	}
	r.Cases = append(r.Cases, cr)
}

func verdict(allowed bool, ids []string) string {
	v := "deny"
	if allowed {
		v = "allow"
	}
	return fmt.Sprintf("%s [%s]", v, strings.Join(ids, " "))
}

func runAuthz(eng *pdp.Engine, file string, tc AuthzCase) CaseResult {
	start := time.Now()
	want := sortedIDs(tc.Policies)
	cr := CaseResult{File: file, Name: tc.Name, Kind: KindAuthz, Expected: verdict(tc.Decision, want)}
	req := tc.Request
	d, err := eng.Evaluate(&req)
	if err != nil {
		cr.Got = "error"
		cr.Failure = "evaluate: " + err.Error()
		cr.Duration = time.Since(start)
		return cr
	}
	got := sortedIDs(d.Reasons)
	cr.Got = verdict(d.Allowed, got)
	var fails []string
	if d.Allowed != tc.Decision {
		fails = append(fails, fmt.Sprintf("decision %v, want %v", d.Allowed, tc.Decision))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		fails = append(fails, fmt.Sprintf("determining policies %v, want %v", got, want))
	}
	if tc.Fallback != "" {
		if mode := eng.Fallback().Rule(&tc.Request).Mode; mode != tc.Fallback {
			fails = append(fails, fmt.Sprintf("fallback %s, want %s", mode, tc.Fallback))
		}
	}
	if (len(d.Errors) > 0) != tc.EvalErrors {
		if tc.EvalErrors {
			fails = append(fails, "expected policy evaluation errors, got none")
		} else {
			fails = append(fails, fmt.Sprintf("unexpected policy evaluation errors: %v", d.Errors))
		}
	}
	cr.Passed = len(fails) == 0
	if cr.Passed {
		cr.determining = got
	}
	cr.Failure = strings.Join(fails, "; ")
	cr.Duration = time.Since(start)
	return cr
}

// objHeader is what the runner needs from a case's object.
type objHeader struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name         string `json:"name"`
		GenerateName string `json:"generateName"`
		Namespace    string `json:"namespace"`
	} `json:"metadata"`
}

func runAdmission(ctx context.Context, eng *guardrails.Engine, file string, tc AdmissionCase) CaseResult {
	start := time.Now()
	want := sortedIDs(tc.Violations)
	cr := CaseResult{File: file, Name: tc.Name, Kind: KindAdmission, Expected: verdict(tc.Allowed, want)}
	fail := func(format string, args ...any) CaseResult {
		cr.Got = "error"
		cr.Failure = fmt.Sprintf(format, args...)
		cr.Duration = time.Since(start)
		return cr
	}
	obj, err := toJSON(tc.Object)
	if err != nil {
		return fail("object: %v", err)
	}
	var h objHeader
	if err := json.Unmarshal(obj, &h); err != nil || h.APIVersion == "" || h.Kind == "" {
		return fail("object: want a Kubernetes object with apiVersion and kind")
	}
	gv, err := schema.ParseGroupVersion(h.APIVersion)
	if err != nil {
		return fail("object: %v", err)
	}
	ns := h.Metadata.Namespace
	if ns == "" {
		ns = "default"
	}
	name := h.Metadata.Name
	if name == "" {
		name = h.Metadata.GenerateName
	}
	labels := tc.NamespaceLabels
	if labels == nil {
		labels = map[string]string{guardrails.LabelTenant: "default"}
	}
	op := tc.Operation
	if op == "" {
		op = "CREATE"
	}
	req := &webhook.Request{
		Kind: schema.GroupKind{Group: gv.Group, Kind: h.Kind}, Operation: op,
		Namespace: ns, Name: name, Object: obj, NamespaceLabels: labels,
	}
	if len(tc.OldObject) > 0 {
		if req.OldObject, err = toJSON(tc.OldObject); err != nil {
			return fail("oldObject: %v", err)
		}
	}
	if h.Kind == "Namespace" {
		req.Namespace = ""
	}
	if tc.User != "" || len(tc.Groups) > 0 {
		req.User = &guardrails.User{Username: tc.User, Groups: tc.Groups}
	}
	mutate := tc.Mutate == nil || *tc.Mutate
	rv := &webhook.Reviewer{Offline: true}
	res, err := rv.Admit(ctx, eng, req, mutate)
	if err != nil {
		return fail("admit: %v", err)
	}
	var ids []string
	if res.Decision != nil {
		for _, v := range res.Decision.Violations {
			ids = append(ids, v.ID)
		}
	}
	got := sortedIDs(ids)
	cr.Got = verdict(res.Allowed(), got)
	var fails []string
	if !res.Supported {
		fails = append(fails, fmt.Sprintf("kind %s is not evaluated by the admission webhook", h.Kind))
	}
	if res.Allowed() != tc.Allowed {
		fails = append(fails, fmt.Sprintf("allowed %v, want %v", res.Allowed(), tc.Allowed))
	}
	if !slices.Equal(want, got) {
		fails = append(fails, fmt.Sprintf("violations %v, want %v", got, want))
		if res.Decision != nil {
			for _, v := range res.Decision.Violations {
				if !slices.Contains(want, v.ID) {
					fails = append(fails, fmt.Sprintf("%s (%s): %s", v.ID, v.Mode, v.Message))
				}
			}
		}
	}
	cr.Passed = len(fails) == 0
	cr.Failure = strings.Join(fails, "; ")
	cr.Duration = time.Since(start)
	return cr
}

// toJSON normalizes a YAML-decoded object (sigs.k8s.io/yaml hands
// json.RawMessage fields JSON already) to compact JSON.
func toJSON(raw json.RawMessage) ([]byte, error) {
	var v map[string]any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, err
	}
	return json.Marshal(v)
}
