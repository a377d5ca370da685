package guardrails

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
)

// FuzzParseConfig: the config parser never panics, and whatever it accepts
// can build an engine.
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(testConfig))
	f.Add([]byte("modes: {resources: warn}\nexemptions: {podLabels: {a: '*'}}"))
	f.Add([]byte("tenants: {t: {maxPerContainer: {cpu: 1e3}}}"))
	f.Add([]byte("agents: {a: {secrets: [x/y]}}\nagents: {}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig(data)
		if err != nil {
			return
		}
		if _, err := New(t.Context(), Options{Config: c}); err != nil {
			t.Fatalf("accepted config does not build an engine: %v", err)
		}
	})
}

// FuzzJSONToAST: the direct JSON -> AST converter agrees with
// encoding/json + ast.InterfaceToValue on every valid document, and
// rejects (without panicking) what encoding/json rejects.
func FuzzJSONToAST(f *testing.F) {
	for _, s := range []string{`{"a":[1,2.5,"x",null,true,{"b":{}}]}`, `[]`, `"\u00e9"`, `1e400`, `{"a":1,"a":2}`, `{"a":1} x`, `-0`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := jsonToAST(data, nil)
		var v any
		if jerr := json.Unmarshal(data, &v); jerr != nil {
			return // invalid JSON: jsonToAST may or may not be stricter
		}
		if err != nil {
			return // stricter (invalid UTF-8, trailing data): fine
		}
		d := json.NewDecoder(bytesReader(data))
		d.UseNumber()
		var n any
		if err := d.Decode(&n); err != nil {
			return
		}
		want, err := ast.InterfaceToValue(n)
		if err != nil {
			return
		}
		if want.Compare(got) != 0 {
			t.Fatalf("jsonToAST(%q) = %v, want %v", data, got, want)
		}
	})
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
