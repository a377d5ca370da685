package guardrails

import (
	"regexp"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// secretValue matches values that look like credentials whatever the
// variable is called: provider API keys, cloud access keys, tokens, private
// keys.
var secretValue = regexp.MustCompile(`^(sk-[A-Za-z0-9_-]{16,}|sk-ant-[A-Za-z0-9_-]{16,}|AKIA[0-9A-Z]{16}|ASIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,}|xox[abprs]-[A-Za-z0-9-]{10,}|AIza[0-9A-Za-z_-]{35}|glpat-[A-Za-z0-9_-]{20,}|hf_[A-Za-z0-9]{30,}|eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]+)`)

// checkEnvSecrets implements AG-GEN-007: no literal secret values in env.
func checkEnvSecrets(ev *evaluation) {
	const id = "AG-GEN-007"
	cfg := &ev.e.cfg.Secrets
	forEachContainer(ev.in.PodSpec, func(kind string, c *corev1.Container) {
		for _, e := range c.Env {
			if e.Value == "" || e.ValueFrom != nil {
				continue
			}
			switch {
			case strings.Contains(e.Value, "-----BEGIN") && strings.Contains(e.Value, "PRIVATE KEY"),
				secretValue.MatchString(e.Value):
				ev.add(id, "%s %q: env %s holds a literal value that looks like a credential; fix: store it in a Secret and use env[].valueFrom.secretKeyRef", kind, c.Name, e.Name)
			case secretName(e.Name, cfg):
				ev.add(id, "%s %q: env %s is named like a secret but has a literal value; fix: store it in a Secret and use env[].valueFrom.secretKeyRef (or list the name in secrets.allowedNames)", kind, c.Name, e.Name)
			}
		}
	})
}

func secretName(name string, cfg *SecretsConfig) bool {
	if slices.Contains(cfg.AllowedNames, name) {
		return false
	}
	upper := strings.ToUpper(name)
	for _, p := range cfg.NamePatterns {
		if strings.Contains(upper, strings.ToUpper(p)) {
			return true
		}
	}
	return false
}

// ref is one reference from a pod to a Secret or ConfigMap key (or to the
// whole object when key is "").
type ref struct {
	kind, name, key, where string
}

// podRefs lists every Secret and ConfigMap a pod spec references.
func podRefs(spec *corev1.PodSpec) []ref {
	var out []ref
	forEachContainer(spec, func(kind string, c *corev1.Container) {
		where := kind + " \"" + c.Name + "\""
		for _, e := range c.Env {
			if e.ValueFrom == nil {
				continue
			}
			if s := e.ValueFrom.SecretKeyRef; s != nil {
				out = append(out, ref{"Secret", s.Name, s.Key, where + " env " + e.Name})
			}
			if m := e.ValueFrom.ConfigMapKeyRef; m != nil {
				out = append(out, ref{"ConfigMap", m.Name, m.Key, where + " env " + e.Name})
			}
		}
		for _, f := range c.EnvFrom {
			if f.SecretRef != nil {
				out = append(out, ref{"Secret", f.SecretRef.Name, "", where + " envFrom"})
			}
			if f.ConfigMapRef != nil {
				out = append(out, ref{"ConfigMap", f.ConfigMapRef.Name, "", where + " envFrom"})
			}
		}
	})
	for _, v := range spec.Volumes {
		where := "volume \"" + v.Name + "\""
		if s := v.Secret; s != nil {
			out = append(out, itemRefs("Secret", s.SecretName, s.Items, where)...)
		}
		if m := v.ConfigMap; m != nil {
			out = append(out, itemRefs("ConfigMap", m.Name, m.Items, where)...)
		}
		if p := v.Projected; p != nil {
			for _, src := range p.Sources {
				if src.Secret != nil {
					out = append(out, itemRefs("Secret", src.Secret.Name, src.Secret.Items, where)...)
				}
				if src.ConfigMap != nil {
					out = append(out, itemRefs("ConfigMap", src.ConfigMap.Name, src.ConfigMap.Items, where)...)
				}
			}
		}
	}
	return out
}

func itemRefs(kind, name string, items []corev1.KeyToPath, where string) []ref {
	if len(items) == 0 {
		return []ref{{kind, name, "", where}}
	}
	out := make([]ref, 0, len(items))
	for _, it := range items {
		out = append(out, ref{kind, name, it.Key, where})
	}
	return out
}

// checkSecretRefs implements AG-SEC-103: an agent references only the
// Secrets and ConfigMaps (or keys) its registry entry allows.
func checkSecretRefs(ev *evaluation) {
	const id = "AG-SEC-103"
	agent, _ := ev.e.AgentSettings(ev.in)
	for _, r := range podRefs(ev.in.PodSpec) {
		allow := agent.Secrets
		field := "secrets"
		if r.kind == "ConfigMap" {
			if r.name == "kube-root-ca.crt" {
				continue
			}
			allow, field = agent.ConfigMaps, "configMaps"
		}
		if refAllowed(allow, r.name, r.key) {
			continue
		}
		what := r.kind + " " + r.name
		if r.key == "" {
			what = "the whole " + r.kind + " " + r.name
		} else {
			what += " key " + r.key
		}
		ev.add(id, "%s references %s, which agent %q may not use; fix: reference only allow-listed %s, or add %q to agents.%s.%s in admission/config.yaml",
			r.where, what, ev.d.Agent, field, entry(r.name, r.key), agentKey(ev.d.Agent), field)
	}
}

func entry(name, key string) string {
	if key == "" {
		return name
	}
	return name + "/" + key
}

func agentKey(agent string) string {
	if agent == "" {
		return "<agent>"
	}
	return agent
}

func refAllowed(allow []string, name, key string) bool {
	for _, a := range allow {
		if a == name || (key != "" && a == name+"/"+key) {
			return true
		}
	}
	return false
}
