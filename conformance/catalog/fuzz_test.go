package catalog_test

import (
	"testing"

	"github.com/agentguard/agentguard/conformance/catalog"
)

func FuzzParse(f *testing.F) {
	f.Add(catalog.Raw())
	f.Add([]byte("controls:\n- {id: M-01, title: t, section: s, source: s, level: manual, enforcement: x, manual: m}\n"))
	f.Add([]byte("controls: [{id: AG-GEN-001}]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := catalog.Parse(data)
		if err != nil {
			return
		}
		for _, ctl := range c.Controls {
			if ctl.ID == "" || ctl.Title == "" {
				t.Fatalf("Parse accepted an entry without id or title: %+v", ctl)
			}
		}
	})
}
