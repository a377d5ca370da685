package pdp

import (
	"testing"

	"github.com/cedar-policy/cedar-go/types"
)

// FuzzFlatRecord: whenever the fast decoder takes an object, cedar-go's own
// decoder gives the same record.
func FuzzFlatRecord(f *testing.F) {
	for _, s := range []string{
		`{"user":"alice@acme.example"}`, `{"a":"x","b":true,"c":false}`, `{}`, ` { "a" : "\\u00e9\\n" } `,
		`{"a":"x","a":"y"}`, `{"a":1}`, `{"__entity":{"type":"A","id":"b"}}`, `{"a":{"b":"c"}}`, `{"a":"x"} {}`,
		`{"a":null}`, `{"a":["x"]}`, "{\"a\":\"\xff\"}", `{"a":"x",}`, `{"a":"x"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		fast, ok := flatRecord(raw)
		if !ok {
			return
		}
		var slow types.Record
		if err := slow.UnmarshalJSON(raw); err != nil {
			t.Fatalf("fast path took %q, cedar-go refuses it: %v", raw, err)
		}
		if !fast.Equal(slow) {
			t.Fatalf("%q: fast %v, cedar-go %v", raw, fast, slow)
		}
	})
}
