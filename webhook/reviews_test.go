package webhook

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the expected outcomes in testdata/reviews/*.want.json")

// reviewOutcome is what the golden files record for one AdmissionReview.
type reviewOutcome struct {
	Validate struct {
		Allowed  bool     `json:"allowed"`
		Code     int32    `json:"code,omitempty"`
		Denials  []string `json:"denials,omitempty"`
		Warnings []string `json:"warnings,omitempty"`
	} `json:"validate"`
	Mutate struct {
		Allowed bool `json:"allowed"`
		// Patch lists "op path" of each operation (values such as the
		// launch time are not stable).
		Patch []string `json:"patch,omitempty"`
	} `json:"mutate"`
}

// TestReviews runs every AdmissionReview in testdata/reviews through
// /validate and /mutate of a server with the default bundle and compares
// the outcome with NAME.want.json (go test -run TestReviews -update
// rewrites them).
func TestReviews(t *testing.T) {
	s := newTestServer(t, Options{})
	files, err := filepath.Glob(filepath.Join("testdata", "reviews", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range files {
		if strings.HasSuffix(f, ".want.json") {
			continue
		}
		n++
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		t.Run(name, func(t *testing.T) {
			body, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var got reviewOutcome
			v := decodeResponse(t, post(s.Handler(), "/validate", body, "application/json"))
			got.Validate.Allowed, got.Validate.Warnings = v.Allowed, v.Warnings
			if v.Result != nil {
				got.Validate.Code = v.Result.Code
				got.Validate.Denials = strings.Split(v.Result.Message, "\n")
			}
			m := decodeResponse(t, post(s.Handler(), "/mutate", body, "application/json"))
			got.Mutate.Allowed = m.Allowed
			if len(m.Patch) > 0 {
				var ops []PatchOp
				if err := json.Unmarshal(m.Patch, &ops); err != nil {
					t.Fatal(err)
				}
				for _, op := range ops {
					got.Mutate.Patch = append(got.Mutate.Patch, op.Op+" "+op.Path)
				}
				slices.Sort(got.Mutate.Patch)
			}
			wantFile := strings.TrimSuffix(f, ".json") + ".want.json"
			if *update {
				var b strings.Builder
				enc := json.NewEncoder(&b)
				enc.SetEscapeHTML(false)
				enc.SetIndent("", "  ")
				if err := enc.Encode(got); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(wantFile, []byte(b.String()), 0o600); err != nil {
					t.Fatal(err)
				}
				return
			}
			b, err := os.ReadFile(wantFile)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			var want reviewOutcome
			if err := json.Unmarshal(b, &want); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("outcome (-want +got):\n%s", diff)
			}
		})
	}
	if n < 10 {
		t.Errorf("only %d reviews in testdata/reviews", n)
	}
}
