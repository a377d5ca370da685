package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
)

// variant changes the review's request before both engines judge it.
type variant struct {
	name string
	mod  func(req, pod, c0 map[string]any)
}

func sc(c map[string]any) map[string]any {
	s, ok := c["securityContext"].(map[string]any)
	if !ok {
		s = map[string]any{}
		c["securityContext"] = s
	}
	return s
}

var variants = []variant{
	{"as written", func(_, _, _ map[string]any) {}},
	{"privileged", func(_, _, c map[string]any) { sc(c)["privileged"] = true }},
	{"allowPrivilegeEscalation", func(_, _, c map[string]any) { sc(c)["allowPrivilegeEscalation"] = true }},
	{"hostNetwork", func(_, p, _ map[string]any) { p["spec"].(map[string]any)["hostNetwork"] = true }},
	{"hostPath", func(_, p, _ map[string]any) {
		spec := p["spec"].(map[string]any)
		spec["volumes"] = append(spec["volumes"].([]any), map[string]any{"name": "h", "hostPath": map[string]any{"path": "/"}})
	}},
	{"hostPort", func(_, _, c map[string]any) { c["ports"] = []any{map[string]any{"containerPort": 80, "hostPort": 80}} }},
	{"runAsUser 0", func(_, _, c map[string]any) { sc(c)["runAsUser"] = 0 }},
	{"runAsNonRoot unset", func(_, p, _ map[string]any) {
		delete(p["spec"].(map[string]any)["securityContext"].(map[string]any), "runAsNonRoot")
	}},
	{"no seccomp", func(_, p, _ map[string]any) {
		delete(p["spec"].(map[string]any)["securityContext"].(map[string]any), "seccompProfile")
	}},
	{"capabilities add", func(_, _, c map[string]any) {
		sc(c)["capabilities"] = map[string]any{"drop": []any{"ALL"}, "add": []any{"SYS_ADMIN"}}
	}},
	{"image from docker.io", func(_, _, c map[string]any) { c["image"] = "busybox:1.36" }},
	{"image :latest", func(_, _, c map[string]any) { c["image"] = "registry.corp.example/agents/research-bot:latest" }},
	{"literal API key", func(_, _, c map[string]any) {
		c["env"] = []any{map[string]any{"name": "OPENAI_API_KEY", "value": "sk-test-0123456789abcdefghij"}}
	}},
	{"secret-named literal", func(_, _, c map[string]any) { c["env"] = []any{map[string]any{"name": "DB_PASSWORD", "value": "x"}} }},
	{"no resources", func(_, _, c map[string]any) { delete(c, "resources") }},
	{"gpu above tenant max", func(_, _, c map[string]any) {
		c["resources"] = map[string]any{"requests": map[string]any{"cpu": "1", "memory": "1Gi", "nvidia.com/gpu": "4"},
			"limits": map[string]any{"memory": "1Gi", "nvidia.com/gpu": "4"}}
	}},
	{"default service account", func(_, p, _ map[string]any) { p["spec"].(map[string]any)["serviceAccountName"] = "default" }},
	{"automount token", func(_, p, _ map[string]any) { p["spec"].(map[string]any)["automountServiceAccountToken"] = true }},
	{"secret not allowed", func(_, _, c map[string]any) {
		c["envFrom"] = []any{map[string]any{"secretRef": map[string]any{"name": "db-admin"}}}
	}},
	{"other tenant", func(r, _, _ map[string]any) { r["namespace"] = "team-b" }},
	{"unregistered agent", func(_, p, _ map[string]any) {
		p["metadata"].(map[string]any)["labels"].(map[string]any)["agentguard.io/agent"] = "stranger"
	}},
	{"no agent label in a tenant namespace", func(_, p, _ map[string]any) {
		delete(p["metadata"].(map[string]any)["labels"].(map[string]any), "agentguard.io/agent")
	}},
	{"no tenant namespace", func(r, _, _ map[string]any) { r["namespace"] = "plain" }},
	{"exempt namespace", func(r, p, _ map[string]any) {
		r["namespace"] = "kube-system"
		p["spec"].(map[string]any)["hostPID"] = true
	}},
}

// checkEquivalence requires both engines to report the same control IDs
// on every variant of the review.
func checkEquivalence(ctx context.Context, ag *agentguard, rg *regoPolicy, review []byte) (int, error) {
	for _, v := range variants {
		var r map[string]any
		if err := json.Unmarshal(review, &r); err != nil {
			return 0, err
		}
		req := r["request"].(map[string]any)
		pod := req["object"].(map[string]any)["spec"].(map[string]any)["template"].(map[string]any)
		c0 := pod["spec"].(map[string]any)["containers"].([]any)[0].(map[string]any)
		v.mod(req, pod, c0)
		b, err := json.Marshal(r)
		if err != nil {
			return 0, err
		}
		a, err := ag.ids(ctx, b)
		if err != nil {
			return 0, fmt.Errorf("%s: agentguard: %w", v.name, err)
		}
		g, err := rg.ids(ctx, b)
		if err != nil {
			return 0, fmt.Errorf("%s: rego: %w", v.name, err)
		}
		if !slices.Equal(a, g) {
			return 0, fmt.Errorf("variant %q: agentguard reports %v, the Rego policy %v", v.name, a, g)
		}
		if v.name != "as written" && v.name != "exempt namespace" && len(a) == 0 {
			return 0, fmt.Errorf("variant %q: no violation from either engine", v.name)
		}
	}
	return len(variants), nil
}
