package authzen_test

import (
	"net/http"
	"testing"

	"github.com/agentguard/agentguard/pdp/authzen"
)

// decisions extracts the decision of each entry of an evaluations response.
func decisions(t *testing.T, out map[string]any) []bool {
	t.Helper()
	evs, ok := out["evaluations"].([]any)
	if !ok {
		t.Fatalf("no evaluations array in %v", out)
	}
	ds := make([]bool, len(evs))
	for i, e := range evs {
		ds[i] = e.(map[string]any)["decision"].(bool)
	}
	return ds
}

const (
	triage = `{"type":"agent","id":"acme-agents/triage"}`
	call   = `{"name":"call_tool"}`
	allowT = `{"resource":{"type":"tool","id":"github/create_issue"}}`
	denyT  = `{"resource":{"type":"tool","id":"payments/refund"}}`
	allowS = `{"resource":{"type":"tool","id":"github/search_issues"}}`
)

func TestEvaluationsSemantics(t *testing.T) {
	t.Parallel()
	s := newServer(t, authzen.Options{})
	items := `[` + allowT + `,` + denyT + `,` + allowS + `]`
	tests := []struct {
		semantic string
		want     []bool
	}{
		{"", []bool{true, false, true}},
		{"execute_all", []bool{true, false, true}},
		{"deny_on_first_deny", []bool{true, false}},
		{"permit_on_first_permit", []bool{true}},
	}
	for _, tt := range tests {
		t.Run("semantic="+tt.semantic, func(t *testing.T) {
			t.Parallel()
			opts := ""
			if tt.semantic != "" {
				opts = `,"options":{"evaluations_semantic":"` + tt.semantic + `","another_option":1}`
			}
			body := `{"subject":` + triage + `,"action":` + call + `,"evaluations":` + items + opts + `}`
			code, out := do(t, s, "POST", authzen.PathEvaluations, "application/json", body)
			if code != http.StatusOK {
				t.Fatalf("status %d: %v", code, out)
			}
			got := decisions(t, out)
			if len(got) != len(tt.want) {
				t.Fatalf("decisions = %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("decisions = %v, want %v", got, tt.want)
				}
			}
		})
	}
}

func TestEvaluationsDefaultsAndOverrides(t *testing.T) {
	t.Parallel()
	s := newServer(t, authzen.Options{})
	// The second entry overrides the default subject with a user-delegated
	// agent and the default context with none (so it lacks a user).
	body := `{"subject":` + triage + `,"action":` + call + `,"context":{"user":"alice@acme.example"},"evaluations":[` +
		allowS + `,` +
		`{"subject":{"type":"agent","id":"acme-agents/assistant"},"resource":{"type":"tool","id":"github/search_issues"}},` +
		`{"subject":{"type":"agent","id":"acme-agents/assistant"},"resource":{"type":"tool","id":"github/search_issues"},"context":{"session":"s"}}` +
		`]}`
	code, out := do(t, s, "POST", authzen.PathEvaluations, "application/json", body)
	if code != http.StatusOK {
		t.Fatalf("status %d: %v", code, out)
	}
	got := decisions(t, out)
	want := []bool{true, true, false}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("decisions = %v, want %v", got, want)
		}
	}
}

func TestEvaluationsPerItemError(t *testing.T) {
	t.Parallel()
	s := newServer(t, authzen.Options{})
	body := `{"subject":` + triage + `,"action":` + call + `,"evaluations":[` + allowT + `,{"resource":{"type":"printer","id":"p"}},` + allowS + `]}`
	code, out := do(t, s, "POST", authzen.PathEvaluations, "application/json", body)
	if code != http.StatusOK {
		t.Fatalf("status %d: %v", code, out)
	}
	evs := out["evaluations"].([]any)
	if len(evs) != 3 {
		t.Fatalf("%d evaluations, want 3", len(evs))
	}
	bad := evs[1].(map[string]any)
	if bad["decision"] != false {
		t.Errorf("failed entry decision = %v, want false", bad["decision"])
	}
	errObj := bad["context"].(map[string]any)["error"].(map[string]any)
	if errObj["status"] != float64(400) {
		t.Errorf("entry error = %v, want status 400", errObj)
	}
	if decisions(t, out)[2] != true {
		t.Errorf("entries after an error must still be evaluated under execute_all")
	}
}

func TestEvaluationsWithoutArrayIsSingle(t *testing.T) {
	t.Parallel()
	s := newServer(t, authzen.Options{})
	code, out := do(t, s, "POST", authzen.PathEvaluations, "application/json", triageCreate)
	if code != http.StatusOK || out["decision"] != true {
		t.Fatalf("status %d, body %v; want a single allow decision", code, out)
	}
}
