# The agentguard guardrails written as one Rego policy, the way a
# Gatekeeper (or plain OPA) user would: Pod Security Standards restricted
# (as in the gatekeeper-library psp-* templates), resources, registries,
# literal secrets, service account, tokens, tenancy and secret references,
# plus the default bundle's custom image-tag rule. Input is Gatekeeper's:
# input.review is the AdmissionRequest; namespaces come from
# data.inventory and the settings from data.parameters (both preloaded, as
# Gatekeeper syncs them, so they cost nothing per request).
package agentguard.bench

review := input.review

kind := review.kind.kind

pod := review.object if kind == "Pod"

pod := review.object.spec.template if kind in {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}

pod := review.object.spec.jobTemplate.spec.template if kind == "CronJob"

spec := pod.spec

params := data.parameters

ns_labels := object.get(data.inventory.namespace, [review.namespace, "metadata", "labels"], {})

pod_labels := object.get(pod, ["metadata", "labels"], {})

agent := object.get(pod_labels, "agentguard.io/agent", "")

tenant := object.get(ns_labels, "agentguard.io/tenant", "")

registered := params.agents[agent]

exempt if review.namespace in {"kube-system", params.systemNamespace}

exempt if review.namespace in params.exemptNamespaces

is_agent if pod_labels["agentguard.io/agent"]

is_agent if ns_labels["agentguard.io/tenant"]

applies if {
	is_agent
	not exempt
}

windows if spec.os.name == "windows"

containers contains c if some c in spec.containers

containers contains c if some c in object.get(spec, "initContainers", [])

containers contains c if some c in object.get(spec, "ephemeralContainers", [])

psc := object.get(spec, "securityContext", {})

csc(c) := object.get(c, "securityContext", {})

violation contains {"id": "AG-GEN-001", "msg": sprintf("[AG-GEN-001] container %q is privileged", [c.name])} if {
	applies
	some c in containers
	csc(c).privileged == true
}

violation contains {"id": "AG-GEN-001", "msg": sprintf("[AG-GEN-001] container %q allows privilege escalation", [c.name])} if {
	applies
	not windows
	some c in containers
	not csc(c).allowPrivilegeEscalation == false
}

violation contains {"id": "AG-GEN-001", "msg": sprintf("[AG-GEN-001] container %q must drop ALL capabilities", [c.name])} if {
	applies
	not windows
	some c in containers
	not "ALL" in object.get(csc(c), ["capabilities", "drop"], [])
}

violation contains {"id": "AG-GEN-001", "msg": sprintf("[AG-GEN-001] container %q adds capability %s", [c.name, cap])} if {
	applies
	not windows
	some c in containers
	some cap in object.get(csc(c), ["capabilities", "add"], [])
	cap != "NET_BIND_SERVICE"
}

violation contains {"id": "AG-GEN-001", "msg": sprintf("[AG-GEN-001] pod sets %s", [f])} if {
	applies
	some f in ["hostNetwork", "hostPID", "hostIPC"]
	spec[f] == true
}

allowed_volume_types := {
	"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "image",
	"persistentVolumeClaim", "projected", "secret",
}

violation contains {"id": "AG-GEN-001", "msg": sprintf("[AG-GEN-001] volume %q uses a restricted type", [v.name])} if {
	applies
	some v in object.get(spec, "volumes", [])
	some k, _ in v
	k != "name"
	not k in allowed_volume_types
}

violation contains {"id": "AG-GEN-001", "msg": sprintf("[AG-GEN-001] container %q uses hostPort %d", [c.name, p.hostPort])} if {
	applies
	some c in containers
	some p in object.get(c, "ports", [])
	object.get(p, "hostPort", 0) != 0
}

violation contains {"id": "AG-GEN-002", "msg": sprintf("[AG-GEN-002] container %q may run as root", [c.name])} if {
	applies
	some c in containers
	not csc(c).runAsNonRoot == true
	not psc.runAsNonRoot == true
}

violation contains {"id": "AG-GEN-002", "msg": sprintf("[AG-GEN-002] container %q sets runAsNonRoot: false", [c.name])} if {
	applies
	some c in containers
	csc(c).runAsNonRoot == false
}

violation contains {"id": "AG-GEN-002", "msg": "[AG-GEN-002] pod sets runAsUser: 0"} if {
	applies
	psc.runAsUser == 0
}

violation contains {"id": "AG-GEN-002", "msg": sprintf("[AG-GEN-002] container %q runs as root (runAsUser: 0)", [c.name])} if {
	applies
	some c in containers
	csc(c).runAsUser == 0
}

seccomp_ok(t) if t in {"RuntimeDefault", "Localhost"}

violation contains {"id": "AG-GEN-001", "msg": sprintf("[AG-GEN-001] container %q has no RuntimeDefault seccomp profile", [c.name])} if {
	applies
	not windows
	some c in containers
	not seccomp_ok(object.get(csc(c), ["seccompProfile", "type"], object.get(psc, ["seccompProfile", "type"], "")))
}

violation contains {"id": "AG-GEN-001", "msg": sprintf("[AG-GEN-001] container %q uses a forbidden SELinux type", [c.name])} if {
	applies
	some c in containers
	t := object.get(csc(c), ["seLinuxOptions", "type"], "")
	not t in {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}
}

violation contains {"id": "AG-GEN-001", "msg": sprintf("[AG-GEN-001] container %q sets SELinux user or role", [c.name])} if {
	applies
	some c in containers
	some f in ["user", "role"]
	object.get(csc(c), ["seLinuxOptions", f], "") != ""
}

violation contains {"id": "AG-GEN-001", "msg": sprintf("[AG-GEN-001] container %q unmasks /proc", [c.name])} if {
	applies
	some c in containers
	object.get(csc(c), "procMount", "Default") != "Default"
}

safe_sysctls := {
	"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
	"net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
	"net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
	"net.ipv4.tcp_keepalive_probes", "net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem",
}

violation contains {"id": "AG-GEN-001", "msg": sprintf("[AG-GEN-001] pod sets unsafe sysctl %s", [s.name])} if {
	applies
	some s in object.get(psc, "sysctls", [])
	not s.name in safe_sysctls
}

violation contains {"id": "AG-GEN-001", "msg": sprintf("[AG-GEN-001] container %q uses AppArmor profile %s", [c.name, t])} if {
	applies
	some c in containers
	t := object.get(csc(c), ["appArmorProfile", "type"], "RuntimeDefault")
	not t in {"RuntimeDefault", "Localhost"}
}

violation contains {"id": "AG-GEN-001", "msg": sprintf("[AG-GEN-001] container %q is a Windows host process", [c.name])} if {
	applies
	some c in containers
	object.get(csc(c), ["windowsOptions", "hostProcess"], false) == true
}

violation contains {"id": "AG-GEN-001", "msg": sprintf("[AG-GEN-001] container %q probes another host", [c.name])} if {
	applies
	some c in containers
	some probe in ["livenessProbe", "readinessProbe", "startupProbe"]
	some handler in ["httpGet", "tcpSocket"]
	object.get(c, [probe, handler, "host"], "") != ""
}

# AG-GEN-201: requests, memory limit, extended resources, tenant maxima.
violation contains {"id": "AG-GEN-201", "msg": sprintf("[AG-GEN-201] container %q has no %s", [c.name, f])} if {
	applies
	some c in containers
	some f in [["requests", "cpu"], ["requests", "memory"], ["limits", "memory"]]
	object.get(c, ["resources", f[0], f[1]], null) == null
}

standard_resource(n) if n in {"cpu", "memory", "ephemeral-storage"}

standard_resource(n) if startswith(n, "hugepages-")

violation contains {"id": "AG-GEN-201", "msg": sprintf("[AG-GEN-201] container %q requests %s without a limit", [c.name, n])} if {
	applies
	some c in containers
	some n, _ in object.get(c, ["resources", "requests"], {})
	not standard_resource(n)
	object.get(c, ["resources", "limits", n], null) == null
}

violation contains {"id": "AG-GEN-201", "msg": sprintf("[AG-GEN-201] container %q: %s %s above the tenant maximum", [c.name, side, n])} if {
	applies
	some n, max in object.get(params.tenants, [tenant, "maxPerContainer"], {})
	some c in containers
	some side in ["requests", "limits"]
	q := object.get(c, ["resources", side, n], null)
	q != null
	units.parse(q) > units.parse(max)
}

# AG-GEN-003: registries.
normalized(image) := image if {
	parts := split(image, "/")
	count(parts) > 1
	regex.match(`[.:]|^localhost$`, parts[0])
}

normalized(image) := concat("/", ["docker.io", image]) if {
	parts := split(image, "/")
	count(parts) > 1
	not regex.match(`[.:]|^localhost$`, parts[0])
}

normalized(image) := concat("/", ["docker.io/library", image]) if not contains(image, "/")

allowed_image(image) if {
	some r in params.allowedRegistries
	n := normalized(image)
	startswith(n, r)
	rest := substring(n, count(r), -1)
	regex.match(`^($|[/:@])`, rest)
}

violation contains {"id": "AG-GEN-003", "msg": sprintf("[AG-GEN-003] container %q uses image %q from a registry that is not allowed", [c.name, c.image])} if {
	applies
	count(params.allowedRegistries) > 0
	some c in containers
	not allowed_image(c.image)
}

# AG-GEN-007: literal secrets in env.
secret_value_re := `^(sk-[A-Za-z0-9_-]{16,}|sk-ant-[A-Za-z0-9_-]{16,}|AKIA[0-9A-Z]{16}|ASIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,}|xox[abprs]-[A-Za-z0-9-]{10,}|AIza[0-9A-Za-z_-]{35}|glpat-[A-Za-z0-9_-]{20,}|hf_[A-Za-z0-9]{30,}|eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]+)`

secret_name(name) if {
	not name in params.secretAllowedNames
	some p in params.secretNamePatterns
	contains(upper(name), p)
}

violation contains {"id": "AG-GEN-007", "msg": sprintf("[AG-GEN-007] container %q: env %s holds a literal secret", [c.name, e.name])} if {
	applies
	some c in containers
	some e in object.get(c, "env", [])
	v := object.get(e, "value", "")
	v != ""
	regex.match(secret_value_re, v)
}

violation contains {"id": "AG-GEN-007", "msg": sprintf("[AG-GEN-007] container %q: env %s is named like a secret", [c.name, e.name])} if {
	applies
	some c in containers
	some e in object.get(c, "env", [])
	object.get(e, "value", "") != ""
	not regex.match(secret_value_re, e.value)
	secret_name(e.name)
}

# AG-SEC-001: a dedicated service account.
sa := object.get(spec, "serviceAccountName", "")

violation contains {"id": "AG-SEC-001", "msg": "[AG-SEC-001] pod runs under the default ServiceAccount"} if {
	applies
	sa in {"", "default"}
}

violation contains {"id": "AG-SEC-001", "msg": sprintf("[AG-SEC-001] agent %q must run as %q", [agent, registered.serviceAccount])} if {
	applies
	not sa in {"", "default"}
	registered.serviceAccount != sa
}

violation contains {"id": "AG-SEC-001", "msg": sprintf("[AG-SEC-001] ServiceAccount %q is registered to agent %q", [sa, other])} if {
	applies
	not sa in {"", "default"}
	some other, a in params.agents
	other != agent
	a.serviceAccount == sa
}

# AG-SEC-004: tokens.
violation contains {"id": "AG-SEC-004", "msg": "[AG-SEC-004] pod automounts its ServiceAccount token"} if {
	applies
	not object.get(registered, "automountServiceAccountToken", false)
	not spec.automountServiceAccountToken == false
}

violation contains {"id": "AG-SEC-004", "msg": sprintf("[AG-SEC-004] volume %q: token expirationSeconds too long", [v.name])} if {
	applies
	some v in object.get(spec, "volumes", [])
	some src in object.get(v, ["projected", "sources"], [])
	object.get(src, ["serviceAccountToken", "expirationSeconds"], 0) > params.maxExpirationSeconds
}

violation contains {"id": "AG-SEC-004", "msg": sprintf("[AG-SEC-004] volume %q: token has no audience", [v.name])} if {
	applies
	some v in object.get(spec, "volumes", [])
	some src in object.get(v, ["projected", "sources"], [])
	src.serviceAccountToken
	object.get(src.serviceAccountToken, "audience", "") == ""
}

# AG-SEC-105: tenancy.
violation contains {"id": "AG-SEC-105", "msg": sprintf("[AG-SEC-105] agent %q runs outside a tenant namespace", [agent])} if {
	applies
	tenant == ""
}

violation contains {"id": "AG-SEC-105", "msg": sprintf("[AG-SEC-105] agent %q belongs to tenant %q", [agent, registered.tenant])} if {
	applies
	tenant != ""
	registered.tenant != tenant
}

# AG-SEC-012: only registered, active agents.
violation contains {"id": "AG-SEC-012", "msg": "[AG-SEC-012] pod in a tenant namespace has no agent label"} if {
	applies
	params.requireRegisteredAgents
	agent == ""
}

violation contains {"id": "AG-SEC-012", "msg": sprintf("[AG-SEC-012] agent %q is not registered", [agent])} if {
	applies
	params.requireRegisteredAgents
	agent != ""
	not params.agents[agent]
}

violation contains {"id": "AG-SEC-012", "msg": sprintf("[AG-SEC-012] agent %q is suspended", [agent])} if {
	applies
	params.requireRegisteredAgents
	registered.suspended == true
}

# AG-SEC-103: Secrets and ConfigMaps only from the allowlist.
refs contains ["Secret", r.name, r.key] if {
	some c in containers
	some e in object.get(c, "env", [])
	r := e.valueFrom.secretKeyRef
}

refs contains ["ConfigMap", r.name, r.key] if {
	some c in containers
	some e in object.get(c, "env", [])
	r := e.valueFrom.configMapKeyRef
}

refs contains ["Secret", f.secretRef.name, ""] if {
	some c in containers
	some f in object.get(c, "envFrom", [])
	f.secretRef
}

refs contains ["ConfigMap", f.configMapRef.name, ""] if {
	some c in containers
	some f in object.get(c, "envFrom", [])
	f.configMapRef
}

refs contains ["Secret", v.secret.secretName, ""] if {
	some v in object.get(spec, "volumes", [])
	v.secret
}

refs contains ["ConfigMap", v.configMap.name, ""] if {
	some v in object.get(spec, "volumes", [])
	v.configMap
}

allow_list("Secret") := object.get(registered, "secrets", [])

allow_list("ConfigMap") := object.get(registered, "configMaps", [])

ref_allowed([_, name, _]) if name == "kube-root-ca.crt"

ref_allowed([kind, name, _]) if name in allow_list(kind)

ref_allowed([kind, name, key]) if {
	key != ""
	concat("/", [name, key]) in allow_list(kind)
}

violation contains {"id": "AG-SEC-103", "msg": sprintf("[AG-SEC-103] agent %q may not use %s %s", [agent, r[0], r[1]])} if {
	applies
	some r in refs
	not ref_allowed(r)
}

# The default bundle's custom rule (AG-CUSTOM-001).
pinned(image) if contains(image, "@sha256:")

pinned(image) if {
	not contains(image, "@")
	parts := split(image, "/")
	last := parts[count(parts) - 1]
	contains(last, ":")
	not endswith(last, ":latest")
}

violation contains {"id": "AG-CUSTOM-001", "msg": sprintf("[AG-CUSTOM-001] container %q uses an unpinned image", [c.name])} if {
	applies
	some c in containers
	not pinned(c.image)
}
