package pdp_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/agentguard/agentguard/pdp"
)

// authzCases is the format of policies/tests/*.json.
type authzCases struct {
	Description string `json:"description"`
	Cases       []struct {
		Name     string      `json:"name"`
		Request  pdp.Request `json:"request"`
		Decision bool        `json:"decision"`
		Policies []string    `json:"policies"`
		// EvalErrors says the case expects policies to fail evaluation
		// (e.g. an unknown entity), which Cedar turns into "not applicable".
		EvalErrors bool `json:"evalErrors"`
	} `json:"cases"`
}

// TestDefaultBundle runs the default bundle's policy tests (policies/tests).
func TestDefaultBundle(t *testing.T) {
	eng, err := pdp.Load("../policies", pdp.Options{})
	if err != nil {
		t.Fatalf("load default bundle: %v", err)
	}
	files, err := filepath.Glob("../policies/tests/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no policy tests found: %v", err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var tc authzCases
		if err := json.Unmarshal(data, &tc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, c := range tc.Cases {
			t.Run(filepath.Base(f)+"/"+c.Name, func(t *testing.T) {
				d, err := eng.Evaluate(&c.Request)
				if err != nil {
					t.Fatalf("evaluate: %v", err)
				}
				if d.Allowed != c.Decision {
					t.Errorf("decision = %v, want %v (reasons %v, errors %v)", d.Allowed, c.Decision, d.Reasons, d.Errors)
				}
				if diff := cmp.Diff(c.Policies, d.Reasons, cmpopts.EquateEmpty()); diff != "" {
					t.Errorf("determining policies (-want +got):\n%s", diff)
				}
				if (len(d.Errors) > 0) != c.EvalErrors {
					t.Errorf("evaluation errors %v, want errors: %v", d.Errors, c.EvalErrors)
				}
			})
		}
	}
}
