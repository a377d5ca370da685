package conformance

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/agentguard/agentguard/webhook/guardrails"
)

// admissionConfig reads the agent registry from the profile's bundle copy.
func (s *session) admissionConfig() (*guardrails.Config, error) {
	if s.profile.Bundle == "" {
		return nil, errNoBundle
	}
	data, err := os.ReadFile(filepath.Join(s.profile.Bundle, "admission", "config.yaml"))
	if err != nil {
		return nil, err
	}
	return guardrails.ParseConfig(data)
}

// secretRefs lists the Secret references of a pod spec as "name" (whole
// Secret) or "name/key".
func secretRefs(spec *corev1.PodSpec) []string {
	var out []string
	for _, c := range allContainersFull(spec) {
		for _, e := range c.Env {
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				out = append(out, e.ValueFrom.SecretKeyRef.Name+"/"+e.ValueFrom.SecretKeyRef.Key)
			}
		}
		for _, e := range c.EnvFrom {
			if e.SecretRef != nil {
				out = append(out, e.SecretRef.Name)
			}
		}
	}
	for _, v := range spec.Volumes {
		if v.Secret != nil {
			if len(v.Secret.Items) == 0 {
				out = append(out, v.Secret.SecretName)
			}
			for _, it := range v.Secret.Items {
				out = append(out, v.Secret.SecretName+"/"+it.Key)
			}
		}
		if v.Projected != nil {
			for _, src := range v.Projected.Sources {
				if src.Secret == nil {
					continue
				}
				if len(src.Secret.Items) == 0 {
					out = append(out, src.Secret.Name)
				}
				for _, it := range src.Secret.Items {
					out = append(out, src.Secret.Name+"/"+it.Key)
				}
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// allContainersFull returns init and regular containers with their env.
func allContainersFull(spec *corev1.PodSpec) []corev1.Container {
	return append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...)
}

// secretAllowed reports whether ref ("name" or "name/key") is on allowed.
func secretAllowed(ref string, allowed []string) bool {
	for _, a := range allowed {
		if a == ref {
			return true
		}
		if name, _, isKey := strings.Cut(ref, "/"); isKey && a == name {
			return true
		}
	}
	return false
}

// scanRegistry maps running agent pods to the registry: each must belong
// to a registered, active agent (registered), and reference only the
// secrets its entry allows (secrets).
func (s *session) scanRegistry(ctx context.Context, r *record, registered, secrets bool) {
	cfg, err := s.admissionConfig()
	if err != nil {
		r.skip("scan of running agent pods against the agent registry (give the bundle: " + err.Error() + ")")
		return
	}
	pods, err := s.agentPods(ctx)
	if err != nil {
		r.errorf("list agent pods: %v", err)
		return
	}
	for _, p := range pods {
		id := p.Labels[s.profile.AgentLabel]
		where := fmt.Sprintf("running pod %s/%s of agent %s", p.Namespace, p.Name, id)
		entry, ok := cfg.Agents[id]
		if registered {
			switch {
			case !ok:
				r.finding(where+" is not in the registry", "", "")
			case entry.Suspended:
				r.finding(where+" belongs to a suspended registry entry", "", "")
			default:
				r.ok(where+" maps to an active registry entry", "", toJSON(entry))
			}
		}
		if secrets {
			refs := secretRefs(&p.Spec)
			var bad []string
			for _, ref := range refs {
				if !secretAllowed(ref, entry.Secrets) {
					bad = append(bad, ref)
				}
			}
			if len(bad) > 0 {
				r.finding(fmt.Sprintf("%s references secrets its registry entry does not allow: %v", where, bad), toJSON(refs), "allowed: "+toJSON(entry.Secrets))
			} else {
				r.ok(fmt.Sprintf("%s references only allowed secrets (%d)", where, len(refs)), toJSON(refs), "allowed: "+toJSON(entry.Secrets))
			}
		}
	}
}
