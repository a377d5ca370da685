package guardrails

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/open-policy-agent/opa/v1/ast"
)

func TestCollectInputRefs(t *testing.T) {
	tests := []struct {
		name string
		rule string
		want inputRefs
	}{
		{"iteration reads two fields", `deny contains {"id": "X-1", "msg": c.name} if { some c in input.pod.spec.containers; endswith(c.image, ":latest"); input.pod.spec.hostNetwork }`,
			inputRefs{pod: [][]string{{"spec", "hostNetwork"}, {"spec", "containers", "*", "name"}, {"spec", "containers", "*", "image"}}}},
		{"iteration variable used whole", `deny contains {"id": "X-1", "msg": "m"} if { some c in input.pod.spec.containers; count(c) > 3 }`,
			inputRefs{pod: [][]string{{"spec", "containers"}}}},
		{"iteration variable in the head", `deny contains c if some c in input.pod.spec.containers`,
			inputRefs{pod: [][]string{{"spec", "containers"}}}},
		{"name declared twice", `deny contains {"id": "X-1", "msg": c.name} if { some c in input.pod.spec.containers; some c in input.pod.spec.initContainers }`,
			inputRefs{pod: [][]string{{"spec", "containers"}, {"spec", "initContainers"}}}},
		{"key and value", `deny contains {"id": "X-1", "msg": k} if { some k, v in input.pod.metadata.labels; v == "x" }`,
			inputRefs{pod: [][]string{{"metadata", "labels"}}}},
		{"iteration only", `deny contains {"id": "X-1", "msg": "m"} if { some c in input.pod.spec.containers }`,
			inputRefs{pod: [][]string{{"spec", "containers", "*"}}}},
		{"computed key stops the prefix", `deny contains {"id": "X-1", "msg": "m"} if { input.object.spec[k]; k == "x" }`,
			inputRefs{object: [][]string{{"spec"}}}},
		{"index stops the prefix", `deny contains {"id": "X-1", "msg": "m"} if input.pod.spec.containers[0].name == "a"`,
			inputRefs{pod: [][]string{{"spec", "containers"}}}},
		{"input as a value", `deny contains {"id": "X-1", "msg": "m"} if { walk(input, [p, v]); v == "x" }`, inputRefs{all: true}},
		{"scalars only", `deny contains {"id": "X-1", "msg": "m"} if input.isAgent`, inputRefs{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := ast.ParseModuleWithOpts("r.rego", "package agentguard.admission\n"+tt.rule, ast.ParserOptions{RegoVersion: ast.RegoV1})
			if err != nil {
				t.Fatal(err)
			}
			got := collectInputRefs([]*ast.Module{m})
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(inputRefs{})); diff != "" {
				t.Errorf("refs (-want +got):\n%s", diff)
			}
		})
	}
}

// TestRegoPruningKeepsResults evaluates rules on the pruned input (only
// referenced paths converted) and on the whole object, and requires the same
// violations.
func TestRegoPruningKeepsResults(t *testing.T) {
	rules := map[string]string{
		"paths":                    `deny contains {"id": "X-1", "msg": sprintf("%v %v", [c.name, input.pod.spec.hostNetwork])} if some c in input.pod.spec.containers`,
		"absent":                   `deny contains {"id": "X-2", "msg": "no dns policy"} if not input.pod.spec.dnsPolicy`,
		"keys":                     `deny contains {"id": "X-3", "msg": concat(",", object.keys(input.pod.spec))} if input.isAgent`,
		"object":                   `deny contains {"id": "X-4", "msg": input.object.metadata.name} if input.object.spec.replicas > 1`,
		"walk":                     `deny contains {"id": "X-5", "msg": sprintf("%v", [count([v | walk(input, [_, v])])])} if true`,
		"by index":                 `deny contains {"id": "X-6", "msg": input.pod.spec.containers[0].image} if true`,
		"iteration":                `deny contains {"id": "X-7", "msg": sprintf("%s=%s", [c.name, c.image])} if { some c in input.pod.spec.containers; c.env }`,
		"iteration, nested":        `deny contains {"id": "X-8", "msg": e.name} if { some c in input.pod.spec.containers; some e in c.env; e.value == "1" }`,
		"iteration, count":         `deny contains {"id": "X-9", "msg": "n"} if { n := count([1 | some c in input.pod.spec.containers]); n == 2 }`,
		"iteration over labels":    `deny contains {"id": "X-10", "msg": v} if { some k, v in input.pod.metadata.labels; k != "" }`,
		"iteration, object value":  `deny contains {"id": "X-11", "msg": sprintf("%v", [c.env])} if some c in input.pod.spec.containers`,
		"iteration, missing field": `deny contains {"id": "X-12", "msg": c.name} if { some c in input.pod.spec.containers; not c.ports }`,
	}
	obj := []byte(`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d","labels":{"a":"b"}},
		"spec":{"replicas":3,"template":{"metadata":{"labels":{"agentguard.io/agent":"bot"}},
		"spec":{"hostNetwork":true,"serviceAccountName":"bot","containers":[{"name":"a","image":"r/a:1","env":[{"name":"X","value":"1"}]},{"name":"b","image":"r/b:2"}],
		"initContainers":[{"name":"i","image":"r/i:latest","securityContext":{"runAsUser":1}}]}}}}`)
	shipped, err := os.ReadFile(filepath.Join("..", "..", "policies", "admission", "image_tags.rego"))
	if err != nil {
		t.Fatal(err)
	}
	rules["default bundle"] = strings.Replace(string(shipped), "\npackage agentguard.admission\n", "\n", 1)
	var decoded any
	if err := json.Unmarshal(obj, &decoded); err != nil {
		t.Fatal(err)
	}
	for name, rule := range rules {
		t.Run(name, func(t *testing.T) {
			e, err := New(context.Background(), Options{Config: DefaultConfig(), Rules: map[string]string{"r.rego": "package agentguard.admission\n" + rule}})
			if err != nil {
				t.Fatal(err)
			}
			p := goodPod()
			base := podInput(p, tenantA)
			base.Kind, base.PodPath = "Deployment", "/spec/template"
			pruned, full := *base, *base
			pruned.ObjectJSON = obj
			full.Object = decoded
			var got [2][]Violation
			for i, in := range []*Input{&pruned, &full} {
				for _, v := range e.Evaluate(context.Background(), in).Violations {
					if v.Check == "rego" {
						got[i] = append(got[i], v)
					}
				}
			}
			if len(got[1]) == 0 {
				t.Fatal("rule did not fire on the full input")
			}
			if diff := cmp.Diff(got[1], got[0]); diff != "" {
				t.Errorf("pruned input changes the result (-full +pruned):\n%s", diff)
			}
		})
	}
}
