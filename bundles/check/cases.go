package check

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/agentguard/agentguard/pdp"
)

// AuthzSuite is one tests/*.json (or tests/authz/*.json) file: AuthZEN
// evaluation requests and what the PDP must answer. It is the format of
// the default bundle's tests (see pdp/policies_test.go).
type AuthzSuite struct {
	Description string      `json:"description,omitempty"`
	Cases       []AuthzCase `json:"cases"`
}

// AuthzCase is one authorization test case.
type AuthzCase struct {
	Name    string      `json:"name"`
	Request pdp.Request `json:"request"`
	// Decision is the expected outcome (true = allow).
	Decision bool `json:"decision"`
	// Policies are the @ids of the determining policies, in any order;
	// empty for a default deny.
	Policies []string `json:"policies,omitempty"`
	// EvalErrors says the case expects some policy to fail evaluation
	// (e.g. an unknown entity), which Cedar treats as not applicable.
	EvalErrors bool `json:"evalErrors,omitempty"`
	// Fallback, when set, is the mode pdp/fallback.yaml must declare for
	// this request when the PDP is unreachable: deny, cached, local or
	// allow. For a local fallback the bundle's own decision is what the
	// PEP will decide, so Decision covers it too.
	Fallback string `json:"fallback,omitempty"`
}

// AdmissionSuite is one tests/admission/*.yaml file: Kubernetes objects
// and what the admission webhook must answer.
type AdmissionSuite struct {
	Description string          `json:"description,omitempty"`
	Cases       []AdmissionCase `json:"cases"`
}

// AdmissionCase is one admission test case.
type AdmissionCase struct {
	Name string `json:"name"`
	// Object is the manifest under review (Pod, Deployment, Job, ...).
	// Its namespace defaults to "default".
	Object json.RawMessage `json:"object"`
	// NamespaceLabels are the labels of the object's namespace. Default:
	// agentguard.io/tenant=default (an agent tenant namespace).
	NamespaceLabels map[string]string `json:"namespaceLabels,omitempty"`
	// Operation is CREATE (default) or UPDATE.
	Operation string `json:"operation,omitempty"`
	// OldObject is the object before an UPDATE.
	OldObject json.RawMessage `json:"oldObject,omitempty"`
	// User and Groups are the requesting user; empty for none.
	User   string   `json:"user,omitempty"`
	Groups []string `json:"groups,omitempty"`
	// Mutate applies the secure defaults first, as the mutating webhook
	// does before the validating one. Default true.
	Mutate *bool `json:"mutate,omitempty"`
	// Allowed is the expected outcome.
	Allowed bool `json:"allowed"`
	// Violations are the control IDs of every expected violation, in any
	// mode (enforce, warn, audit), in any order. They must match exactly.
	Violations []string `json:"violations,omitempty"`
}

// Suite is a parsed test file.
type Suite struct {
	// File is the path inside the bundle.
	File      string
	Authz     *AuthzSuite
	Admission *AdmissionSuite
}

// isAuthzFile and isAdmissionFile say which test files the runner reads.
func isAuthzFile(name string) bool {
	dir := path.Dir(name)
	return (dir == "tests" || dir == "tests/authz") && strings.HasSuffix(name, ".json")
}

func isAdmissionFile(name string) bool {
	return path.Dir(name) == "tests/admission" && (strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml"))
}

// ParseSuites reads every test file of a bundle, strictly (unknown fields
// are errors that name the file).
func ParseSuites(fsys fs.FS, names []string) ([]Suite, error) {
	var out []Suite
	var errs []error
	for _, n := range names {
		switch {
		case isAuthzFile(n):
			data, err := fs.ReadFile(fsys, n)
			if err != nil {
				return nil, err
			}
			var s AuthzSuite
			if err := strictJSON(data, &s); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", n, err))
				continue
			}
			if err := s.validate(); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", n, err))
				continue
			}
			out = append(out, Suite{File: n, Authz: &s})
		case isAdmissionFile(n):
			data, err := fs.ReadFile(fsys, n)
			if err != nil {
				return nil, err
			}
			var s AdmissionSuite
			if err := yaml.UnmarshalStrict(data, &s); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", n, err))
				continue
			}
			if err := s.validate(); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", n, err))
				continue
			}
			out = append(out, Suite{File: n, Admission: &s})
		}
	}
	if len(errs) > 0 {
		return nil, joinErrs(errs)
	}
	return out, nil
}

func (s *AuthzSuite) validate() error {
	if len(s.Cases) == 0 {
		return fmt.Errorf("no cases")
	}
	return checkNames(len(s.Cases), func(i int) string { return s.Cases[i].Name })
}

func (s *AdmissionSuite) validate() error {
	if len(s.Cases) == 0 {
		return fmt.Errorf("no cases")
	}
	if err := checkNames(len(s.Cases), func(i int) string { return s.Cases[i].Name }); err != nil {
		return err
	}
	for _, c := range s.Cases {
		if len(c.Object) == 0 || string(c.Object) == "null" {
			return fmt.Errorf("case %q: object is required", c.Name)
		}
		switch c.Operation {
		case "", "CREATE", "UPDATE":
		default:
			return fmt.Errorf("case %q: operation %q: want CREATE or UPDATE", c.Name, c.Operation)
		}
	}
	return nil
}

func checkNames(n int, name func(int) string) error {
	seen := map[string]bool{}
	for i := range n {
		switch nm := name(i); {
		case nm == "":
			return fmt.Errorf("case #%d has no name", i+1)
		case seen[nm]:
			return fmt.Errorf("case name %q is used twice", nm)
		default:
			seen[nm] = true
		}
	}
	return nil
}

// sortedIDs returns ids sorted and deduplicated, never nil.
func sortedIDs(ids []string) []string {
	out := slices.Clone(ids)
	slices.Sort(out)
	out = slices.Compact(out)
	if out == nil {
		out = []string{}
	}
	return out
}
