package conformance

import (
	"testing"

	"github.com/agentguard/agentguard/conformance/catalog"
)

func FuzzParseProfile(f *testing.F) {
	for _, s := range []string{"", "admission: {agent: a, tenant: t}", "pdp: {grantTTL: 3s, deniedTools: [x]}",
		"telemetry: {requiredPDPMetrics: [{name: m, labels: [l]}]}", "suiteLabels: {a/b: c}", "{", "- 1"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParseProfile(data)
		if err == nil && p.Validate() != nil {
			t.Fatal("ParseProfile returned a profile that does not validate")
		}
	})
}

func FuzzParseMarkdown(f *testing.F) {
	f.Add([]byte("## 5. General › Containers › Security (AG-GEN-0xx)\n| AG-GEN-001 | t | s<br>*Recommendation:* r | **PDP** | p | Core |\n"))
	f.Add([]byte("| M-01 | s | r | w | e |\n"))
	f.Add([]byte("| AG-CC-001 | a | b |\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cs, err := catalog.ParseMarkdown(data)
		if err != nil {
			return
		}
		for _, c := range cs {
			if c.ID == "" && c.Level != catalog.LevelManual && c.Section == "" {
				t.Fatalf("control without id or section: %+v", c)
			}
		}
	})
}
