package authzen

import (
	"reflect"
	"testing"
)

// FuzzDecodeEvaluation: the one-pass decoder takes a body only when it
// reads it as decode (encoding/json v2) does.
func FuzzDecodeEvaluation(f *testing.F) {
	for _, s := range []string{
		`{"subject":{"type":"agent","id":"acme-agents/assistant"},"action":{"name":"call_tool"},"resource":{"type":"tool","id":"github/search_issues"},"context":{"user":"alice@acme.example"}}`,
		`{"subject":{"type":"agent","id":"a","properties":{"x":"y"}},"action":{"name":"n","properties":{}},"resource":{"type":"t","id":"i","extra":[1,2]},"other":true}`,
		`{"subject":null,"action":{"name":"call_tool"}}`, `{"subject":{"id":7}}`, `{"subject":{"id":"a","id":"b"}}`,
		`{"context":"now"}`, `{"context":null}`, `{"Subject":{"type":"a","id":"b"}}`, `{"subject":{}}{}`, ` {} `,
		"{\"subject\":{\"id\":\"\xff\"}}", `{"subject":{"type":"a\u0000b","id":"\ud800"}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var fast evaluationRequest
		if !fastEvaluation(body, &fast) {
			return
		}
		var slow evaluationRequest
		if err := decode(body, &slow); err != nil {
			t.Fatalf("fast path took %q, decode refuses it: %v", body, err)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("%q:\nfast %+v\nslow %+v", body, fast, slow)
		}
	})
}
