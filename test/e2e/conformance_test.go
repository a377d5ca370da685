package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/agentguard/agentguard/conformance"
)

// admissionControls are the controls the webhook enforces on its own (plus
// AG-CC-008, the webhook configuration these tests register, and AG-GOV-001,
// the admission stamp), and what the conformance suite must conclude about
// them against the default bundle.
var admissionControls = map[string]conformance.Status{
	"AG-GEN-001": conformance.StatusPass,
	"AG-GEN-002": conformance.StatusPass,
	"AG-GEN-003": conformance.StatusPass,
	"AG-GEN-007": conformance.StatusPass,
	"AG-GEN-201": conformance.StatusPass,
	"AG-SEC-001": conformance.StatusPass,
	"AG-SEC-004": conformance.StatusPass,
	"AG-SEC-103": conformance.StatusPass,
	"AG-SEC-105": conformance.StatusPass,
	"AG-SEC-012": conformance.StatusPass,
	"AG-GOV-001": conformance.StatusPass,
	"AG-CC-008":  conformance.StatusPass,
}

// TestConformanceAdmissionControls runs the conformance suite's admission
// probes (server-side dry runs that match denials on the control ID) against
// the webhook in front of a real API server.
func TestConformanceAdmissionControls(t *testing.T) {
	c := startCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	wp := startWebhook(t, c)
	registerWebhooks(ctx, t, c, wp)
	waitForWebhook(ctx, t, c)

	var ids []string
	for id := range admissionControls {
		ids = append(ids, id)
	}
	rep, err := conformance.Run(ctx, conformance.Options{Controls: ids, Kube: c.cfg, Version: "e2e"})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range rep.Results {
		want, ok := admissionControls[r.ID]
		if !ok {
			continue
		}
		seen[r.ID] = true
		t.Logf("%s %s: %s", r.ID, r.Status, r.Summary)
		if r.Status != want {
			var ev []string
			for _, e := range r.Evidence {
				ev = append(ev, e.Step+": "+e.Outcome+" "+e.Response)
			}
			t.Errorf("%s: %s (%s), want %s\n  %s", r.ID, r.Status, r.Summary, want, strings.Join(ev, "\n  "))
		}
	}
	for id := range admissionControls {
		if !seen[id] {
			t.Errorf("%s: not in the report", id)
		}
	}
}
