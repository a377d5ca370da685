package report

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/agentguard/agentguard/conformance"
)

// OSCAL writes the report as an OSCAL 1.1 assessment-results document:
// one finding per control, whose target status is satisfied (PASS),
// not-satisfied (FAIL, WARN) or other (the rest), with one observation per
// control holding the evidence.
func OSCAL(w io.Writer, rep *conformance.Report) error {
	uuid := func(parts ...string) string {
		h := sha256.Sum256([]byte(rep.Target.Nonce + "|" + strings.Join(parts, "|")))
		h[6] = (h[6] & 0x0f) | 0x50 // name-based (v5-style) UUID layout
		h[8] = (h[8] & 0x3f) | 0x80
		return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
	}
	ts := func(t time.Time) string { return t.UTC().Format(time.RFC3339) }
	type prop struct {
		Name  string `json:"name"`
		Value string `json:"value"`
		NS    string `json:"ns,omitempty"`
	}
	var observations, findings []map[string]any
	for _, r := range rep.Results {
		obsID := uuid("obs", r.ID)
		var desc strings.Builder
		fmt.Fprintf(&desc, "%s: %s", r.Status, r.Summary)
		for _, e := range r.Evidence {
			fmt.Fprintf(&desc, "\n[%s] %s", e.Outcome, e.Step)
		}
		observations = append(observations, map[string]any{
			"uuid": obsID, "title": r.ID + " " + r.Title, "description": desc.String(),
			"methods": []string{"TEST"}, "collected": ts(r.StartedAt),
			"props": []prop{{Name: "agentguard-status", Value: string(r.Status), NS: "https://agentguard.io/ns/oscal"}},
		})
		state := "other"
		switch r.Status {
		case conformance.StatusPass:
			state = "satisfied"
		case conformance.StatusFail, conformance.StatusWarn:
			state = "not-satisfied"
		}
		findings = append(findings, map[string]any{
			"uuid": uuid("finding", r.ID), "title": r.ID + " " + r.Title, "description": r.Summary,
			"target": map[string]any{"type": "objective-id", "target-id": strings.ToLower(r.ID),
				"status": map[string]any{"state": state, "reason": string(r.Status)}},
			"related-observations": []map[string]string{{"observation-uuid": obsID}},
		})
	}
	doc := map[string]any{"assessment-results": map[string]any{
		"uuid": uuid("ar"),
		"metadata": map[string]any{"title": "agentguard conformance assessment", "last-modified": ts(rep.FinishedAt),
			"version": rep.Tool.Version, "oscal-version": "1.1.2"},
		"import-ap": map[string]any{"href": "#agentguard-conformance-plan"},
		"results": []map[string]any{{
			"uuid": uuid("result"), "title": "agentguard conformance run " + rep.Target.Nonce,
			"description": fmt.Sprintf("cluster %q, PDP %q, profile %q", rep.Target.Cluster, rep.Target.PDP, rep.Target.Profile),
			"start":       ts(rep.StartedAt), "end": ts(rep.FinishedAt),
			"reviewed-controls": map[string]any{"control-selections": []map[string]any{{"include-all": map[string]any{}}}},
			"observations":      observations, "findings": findings,
		}},
	}}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}
