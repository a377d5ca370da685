package conformance

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/agentguard/agentguard/bundles"
	"github.com/agentguard/agentguard/bundles/check"
)

// checkBundleTests runs the bundle's own test cases (AG-GOV-005), as
// `agentguard bundle test` does, and requires every policy to determine at
// least one passing case.
func checkBundleTests(ctx context.Context, s *session, r *record) {
	if s.profile.Bundle == "" {
		r.manual("no local copy of the policy bundle given (profile bundle: or --bundle)")
		return
	}
	b, err := bundles.ReadDir(s.profile.Bundle, bundles.Limits{})
	if err != nil {
		r.errorf("read bundle %s: %v", s.profile.Bundle, err)
		return
	}
	c, err := check.Compile(ctx, b, check.Options{})
	if err != nil {
		r.finding("the bundle does not compile", "bundle "+s.profile.Bundle, err.Error())
		return
	}
	rep := check.Run(ctx, c)
	req := "agentguard bundle test " + s.profile.Bundle
	switch {
	case rep.Passed+rep.Failed == 0:
		r.finding("the bundle ships no test cases", req, "")
	case rep.Failed > 0:
		var failed []string
		for _, cr := range rep.Cases {
			if !cr.Passed {
				failed = append(failed, fmt.Sprintf("%s %q: want %s, got %s", cr.File, cr.Name, cr.Expected, cr.Got))
			}
		}
		r.finding(fmt.Sprintf("%d of %d bundle test cases fail", rep.Failed, rep.Passed+rep.Failed), req, strings.Join(failed, "\n"))
	default:
		r.ok(fmt.Sprintf("all %d bundle test cases pass (revision %s)", rep.Passed, rep.Revision), req, "")
	}
	if cov := rep.Coverage; cov != nil {
		if len(cov.Uncovered) > 0 {
			r.finding(fmt.Sprintf("%d of %d policies determine no passing test case", len(cov.Uncovered), cov.Policies), req, strings.Join(cov.Uncovered, ", "))
		} else {
			r.ok(fmt.Sprintf("each of the %d policies determines at least one passing case", cov.Policies), req, "")
		}
	}
	r.skip("a deny case for every registered tool", "the adversarial categories (wrong tenant, expired grant, schema violation, delegation without consent, fallback)",
		"a bundle with a failing test refused by the publish step or the PDP")
}

// checkUserDelegation probes a user-delegated agent (AG-SEC-008): it acts
// only on behalf of a user.
func checkUserDelegation(ctx context.Context, s *session, r *record) {
	p := s.profile.PDP
	if s.opts.PDPURL == "" {
		r.manual("no PDP given (--pdp URL); this check needs one")
		return
	}
	tok, err := readTokenFile(p.DelegatedCaller.TokenFile)
	if err != nil {
		r.errorf("%v", err)
		return
	}
	if tok == "" {
		r.manual("no token for a user-delegated agent (set pdp.delegatedCaller.tokenFile)")
		return
	}
	subj := p.DelegatedCaller.Subject
	for _, c := range []struct {
		step string
		ctx  map[string]any
		want bool
	}{
		{"call of " + p.DelegatedTool + " on behalf of no user", nil, false},
		{"call of " + p.DelegatedTool + " on behalf of user " + p.DelegatedUser, map[string]any{"user": p.DelegatedUser}, true},
	} {
		a, err := s.post(ctx, pathEvaluation, tok, s.evalBody(subj, p.DelegatedTool, c.ctx))
		if err != nil {
			r.errorf("%v", err)
			return
		}
		d, ok := a.decision()
		switch {
		case a.status != http.StatusOK || !ok:
			if c.want {
				r.errorf("the user-delegated probe got HTTP %d; check pdp.delegatedCaller", a.status)
				r.info(c.step, a.req, a.response())
				return
			}
			r.ok(fmt.Sprintf("%s: refused (HTTP %d)", c.step, a.status), a.req, a.response())
		case d == c.want:
			r.ok(fmt.Sprintf("%s: decision %v", c.step, d), a.req, a.response())
		case c.want:
			r.errorf("the user-delegated agent is denied even on behalf of a user; check pdp.delegatedCaller and pdp.delegatedTool")
			r.info(c.step, a.req, a.response())
			return
		default:
			r.finding(fmt.Sprintf("%s: allowed", c.step), a.req, a.response())
		}
	}
	r.skip("an expired user token", "a user session revoked at the identity provider", "an action the user lacks but the agent's role allows")
}

// checkPDPAutoscaling inspects the HPA of agentguard's PDP (AG-GEN-204).
func checkPDPAutoscaling(ctx context.Context, s *session, r *record) {
	if !s.needKube(r) {
		return
	}
	deps, ok := s.agentguardDeployments(ctx, r)
	if !ok {
		return
	}
	var pdpDep *deploymentView
	for i := range deps {
		if strings.Contains(deps[i].name, s.profile.Inventory.PDPName) {
			pdpDep = &deps[i]
		}
	}
	if pdpDep == nil {
		r.manual("no agentguard Deployment named like %q in %s (set inventory.pdpName)", s.profile.Inventory.PDPName, s.profile.SystemNamespace)
		return
	}
	hpas, err := s.kube.AutoscalingV2().HorizontalPodAutoscalers(pdpDep.ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		r.errorf("list HorizontalPodAutoscalers: %v", err)
		return
	}
	found := false
	for _, h := range hpas.Items {
		ref := h.Spec.ScaleTargetRef
		if ref.Kind != "Deployment" || ref.Name != pdpDep.name {
			continue
		}
		found = true
		id := "HPA " + h.Namespace + "/" + h.Name
		obj := toJSON(map[string]any{"spec": h.Spec, "status": h.Status})
		if h.Spec.MinReplicas != nil && *h.Spec.MinReplicas >= 2 {
			r.ok(fmt.Sprintf("%s keeps at least %d replicas", id, *h.Spec.MinReplicas), obj, "")
		} else {
			r.finding(id+" allows fewer than 2 replicas", obj, "")
		}
		if len(h.Status.CurrentMetrics) > 0 {
			r.ok(id+" reports current metric values", "", toJSON(h.Status.CurrentMetrics))
		} else {
			r.finding(id+" reports no current metric values (metrics unavailable)", obj, "")
		}
		active := false
		for _, c := range h.Status.Conditions {
			if c.Type == "ScalingActive" && c.Status == corev1.ConditionTrue {
				active = true
			}
		}
		if active {
			r.ok(id+" has ScalingActive=True", "", "")
		} else {
			r.finding(id+" does not have ScalingActive=True", obj, "")
		}
	}
	if !found {
		r.finding("no HorizontalPodAutoscaler targets Deployment "+pdpDep.ns+"/"+pdpDep.name, "", "")
	}
	r.skip("HPA coverage of agent workloads (information)")
}

// checkTenantQuotas inspects ResourceQuotas and LimitRanges of agent-tenant
// namespaces (AG-SEC-108).
func checkTenantQuotas(ctx context.Context, s *session, r *record) {
	if !s.needKube(r) {
		return
	}
	nss, err := s.agentNamespaces(ctx)
	if err != nil {
		r.errorf("list agent namespaces: %v", err)
		return
	}
	if len(nss) == 0 {
		r.manual("no agent-tenant namespaces (label %s) to inspect", s.profile.TenantLabel)
		return
	}
	nodes, err := s.kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		r.errorf("list nodes: %v", err)
		return
	}
	gpus := false
	for _, n := range nodes.Items {
		if q, ok := n.Status.Allocatable["nvidia.com/gpu"]; ok && !q.IsZero() {
			gpus = true
		}
	}
	for _, n := range nss {
		quotas, err := s.kube.CoreV1().ResourceQuotas(n.Name).List(ctx, metav1.ListOptions{})
		if err != nil {
			r.errorf("list ResourceQuotas in %s: %v", n.Name, err)
			return
		}
		hard := map[string]bool{}
		for _, q := range quotas.Items {
			for k := range q.Spec.Hard {
				hard[string(k)] = true
			}
		}
		want := [][]string{{"requests.cpu", "cpu"}, {"requests.memory", "memory"}}
		if gpus {
			want = append(want, []string{"requests.nvidia.com/gpu"})
		}
		var missing []string
		for _, alts := range want {
			ok := false
			for _, k := range alts {
				ok = ok || hard[k]
			}
			if !ok {
				missing = append(missing, alts[0])
			}
		}
		obj := fmt.Sprintf("%d ResourceQuota(s), hard limits on %s", len(quotas.Items), strings.Join(sortedKeys(hard), ", "))
		if len(missing) > 0 {
			r.finding("namespace "+n.Name+" has no quota on "+strings.Join(missing, ", "), obj, "")
		} else {
			r.ok("namespace "+n.Name+" has quotas on CPU and memory requests", obj, "")
		}
		lrs, err := s.kube.CoreV1().LimitRanges(n.Name).List(ctx, metav1.ListOptions{})
		if err != nil {
			r.errorf("list LimitRanges in %s: %v", n.Name, err)
			return
		}
		if len(lrs.Items) > 0 {
			r.ok("namespace "+n.Name+" has a LimitRange", lrs.Items[0].Name, "")
		} else {
			r.finding("namespace "+n.Name+" has no LimitRange", "", "")
		}
	}
	r.skip("an over-quota pod rejected (dry run)", "the webhook refusing agent pods in a namespace without a quota")
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
