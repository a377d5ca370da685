package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestAdmit(t *testing.T) {
	bundle := filepath.Join("..", "..", "policies")
	type summary struct {
		Kind    string
		Name    string
		Allowed bool
		IDs     []string
		Patched bool
	}
	tests := []struct {
		name     string
		opts     admitOptions
		stdin    string
		wantCode int
		want     []summary
	}{
		{
			name: "compliant deployment is mutated and allowed",
			opts: admitOptions{file: "testdata/admit/good.yaml"},
			want: []summary{
				{Kind: "Namespace", Name: "team-a", Allowed: true},
				{Kind: "Deployment", Name: "research-bot", Allowed: true, Patched: true},
			},
		},
		{
			name:     "without mutation the same deployment is denied",
			opts:     admitOptions{file: "testdata/admit/good.yaml", noMutate: true},
			wantCode: 1,
			want: []summary{
				{Kind: "Namespace", Name: "team-a", Allowed: true},
				{Kind: "Deployment", Name: "research-bot", Allowed: false, IDs: []string{"AG-GEN-001", "AG-GEN-002", "AG-GEN-201", "AG-SEC-004"}},
			},
		},
		{
			name:     "List with a root pod, a CronJob and an unknown kind",
			opts:     admitOptions{file: "testdata/admit/bad-list.yaml", namespaceLabels: "agentguard.io/tenant=team-a"},
			wantCode: 1,
			want: []summary{
				{Kind: "Pod", Name: "root-pod", Allowed: false, IDs: []string{"AG-GEN-002"}, Patched: true},
				{Kind: "CronJob", Name: "nightly", Allowed: true, Patched: true},
				{Kind: "ConfigMap", Name: "settings", Allowed: true},
			},
		},
		{
			name:     "namespace without tenant label from the flag",
			opts:     admitOptions{file: "-", namespaceLabels: "team=x"},
			stdin:    "apiVersion: v1\nkind: Pod\nmetadata: {name: p, labels: {agentguard.io/agent: research-bot}}\nspec:\n  serviceAccountName: research-bot\n  containers: [{name: c, image: registry.corp.example/a:1}]\n",
			wantCode: 1,
			want:     []summary{{Kind: "Pod", Name: "p", Allowed: false, IDs: []string{"AG-SEC-105"}, Patched: true}},
		},
		{name: "broken YAML", opts: admitOptions{file: "testdata/admit/broken.yaml"}, wantCode: 2},
		{name: "not a Kubernetes object", opts: admitOptions{file: "testdata/admit/notk8s.yaml"}, wantCode: 2},
		{name: "missing file", opts: admitOptions{file: "testdata/admit/nope.yaml"}, wantCode: 2},
		{name: "empty input", opts: admitOptions{file: "-"}, stdin: "---\n", wantCode: 2},
		{name: "invalid bundle config", opts: admitOptions{file: "testdata/admit/good.yaml", bundle: "testdata/admit/badbundle"}, wantCode: 2},
		{name: "bad output format", opts: admitOptions{file: "testdata/admit/good.yaml", output: "yaml"}, wantCode: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := tt.opts
			if o.bundle == "" {
				o.bundle = bundle
			}
			if o.output == "" {
				o.output = "json"
			}
			if o.namespaceLabels == "" {
				o.namespaceLabels = "agentguard.io/tenant=default"
			}
			var out bytes.Buffer
			err := runAdmit(context.Background(), &o, strings.NewReader(tt.stdin), &out)
			code := 0
			if err != nil {
				var ee *exitError
				if !errors.As(err, &ee) {
					t.Fatalf("error without exit code: %v", err)
				}
				code = ee.code
			}
			if code != tt.wantCode {
				t.Fatalf("exit code %d (%v), want %d\n%s", code, err, tt.wantCode, out.String())
			}
			if code == 2 {
				return
			}
			var entries []admitEntry
			if err := json.Unmarshal(out.Bytes(), &entries); err != nil {
				t.Fatalf("output is not JSON: %v\n%s", err, out.String())
			}
			var got []summary
			for _, e := range entries {
				s := summary{Kind: e.Kind, Name: e.Name, Allowed: e.Allowed, Patched: len(e.Patch) > 0}
				seen := map[string]bool{}
				for _, v := range e.Violations {
					if v.Mode == "enforce" && !seen[v.ID] {
						seen[v.ID] = true
						s.IDs = append(s.IDs, v.ID)
					}
				}
				got = append(got, s)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("entries (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAdmitTable(t *testing.T) {
	o := admitOptions{file: "testdata/admit/bad-list.yaml", bundle: filepath.Join("..", "..", "policies"), output: "table", namespaceLabels: "agentguard.io/tenant=team-a"}
	var out bytes.Buffer
	_ = runAdmit(context.Background(), &o, nil, &out)
	for _, want := range []string{"KIND", "Pod", "DENIED", `[AG-GEN-002] container "app" runs as root`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
}
