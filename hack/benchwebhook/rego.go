package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"

	"github.com/agentguard/agentguard/webhook/guardrails"
)

var errNoRego = errors.New("no *.rego files")

type regoPolicy struct {
	query rego.PreparedEvalQuery
}

// newRegoPolicy prepares the Rego policy once, with the same settings as
// the agentguard bundle preloaded as data (as Gatekeeper syncs constraint
// parameters and the namespace inventory).
func newRegoPolicy(ctx context.Context, dir string, cfg *guardrails.Config) (*regoPolicy, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.rego"))
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("no Rego files in %s: %w", dir, errors.Join(err, errNoRego))
	}
	opts := []func(*rego.Rego){rego.Query("data.agentguard.bench.violation"), rego.Store(inmem.NewFromObject(regoData(cfg)))}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		opts = append(opts, rego.Module(f, string(src)))
	}
	pq, err := rego.New(opts...).PrepareForEval(ctx)
	if err != nil {
		return nil, err
	}
	return &regoPolicy{query: pq}, nil
}

func regoData(cfg *guardrails.Config) map[string]any {
	inventory := map[string]any{}
	for name, labels := range namespaces {
		l := map[string]any{}
		for k, v := range labels {
			l[k] = v
		}
		inventory[name] = map[string]any{"metadata": map[string]any{"labels": l}}
	}
	tenants := map[string]any{}
	for name, t := range cfg.Tenants {
		max := map[string]any{}
		for r, q := range t.MaxPerContainer {
			max[string(r)] = q.String()
		}
		tenants[name] = map[string]any{"maxPerContainer": max}
	}
	agents := map[string]any{}
	for id, a := range cfg.Agents {
		agents[id] = map[string]any{
			"tenant": a.Tenant, "serviceAccount": a.ServiceAccount, "automountServiceAccountToken": a.AutomountServiceAccountToken,
			"secrets": strs(a.Secrets), "configMaps": strs(a.ConfigMaps), "suspended": a.Suspended,
		}
	}
	var registries, patterns []any
	for _, r := range cfg.AllowedRegistries {
		registries = append(registries, strings.TrimSuffix(r, "/"))
	}
	for _, p := range cfg.Secrets.NamePatterns {
		patterns = append(patterns, strings.ToUpper(p))
	}
	return map[string]any{
		"inventory": map[string]any{"namespace": inventory},
		"parameters": map[string]any{
			"systemNamespace": cfg.SystemNamespace, "exemptNamespaces": strs(cfg.Exemptions.Namespaces),
			"allowedRegistries": registries, "tenants": tenants, "agents": agents,
			"secretNamePatterns": patterns, "secretAllowedNames": strs(cfg.Secrets.AllowedNames),
			"maxExpirationSeconds": cfg.Tokens.MaxExpirationSeconds, "requireRegisteredAgents": cfg.RequireRegisteredAgents,
		},
	}
}

func strs(in []string) []any {
	out := make([]any, len(in))
	for i, s := range in {
		out[i] = s
	}
	return out
}

// eval decodes the review, as Gatekeeper does, and evaluates the policy.
func (p *regoPolicy) eval(ctx context.Context, review []byte) (rego.ResultSet, error) {
	var r struct {
		Request any `json:"request"`
	}
	if err := json.Unmarshal(review, &r); err != nil {
		return nil, err
	}
	input, err := ast.InterfaceToValue(map[string]any{"review": r.Request})
	if err != nil {
		return nil, err
	}
	return p.query.Eval(ctx, rego.EvalParsedInput(input))
}

func (p *regoPolicy) time(ctx context.Context, review []byte) error {
	rs, err := p.eval(ctx, review)
	if err != nil {
		return err
	}
	if len(rs) != 1 {
		return fmt.Errorf("rego: %d results", len(rs))
	}
	return nil
}

func (p *regoPolicy) ids(ctx context.Context, review []byte) ([]string, error) {
	rs, err := p.eval(ctx, review)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, r := range rs {
		for _, e := range r.Expressions {
			items, _ := e.Value.([]any)
			for _, it := range items {
				m, _ := it.(map[string]any)
				if id, ok := m["id"].(string); ok {
					out = append(out, id)
				}
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}
