package webhook

import (
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/agentguard/agentguard/webhook/guardrails"
)

// PatchOp is one RFC 6902 JSON Patch operation.
type PatchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value,omitempty"`
}

// Mutation is the outcome of applying secure defaults to one object.
type Mutation struct {
	// Patch is the JSON Patch; empty when nothing changed.
	Patch []PatchOp `json:"patch,omitempty"`
	// Changes names what was set (the values recorded in the
	// agentguard.io/mutated annotation).
	Changes []string `json:"changes,omitempty"`
}

// Mutate computes secure defaults for the pod (template) in x. It only fills
// fields that are unset, never changes an explicit value, and returns no
// patch for an object it already mutated, so it is idempotent under
// reinvocationPolicy IfNeeded. Exempt objects and, with scope "agents",
// non-agent pods are left alone.
func Mutate(e *guardrails.Engine, in *guardrails.Input, x *Extracted) Mutation {
	if x == nil || x.PodSpec == nil || len(x.PodSpec.Containers) == 0 || e.Exempt(in) != "" {
		// A pod without containers is refused by API validation anyway,
		// and its JSON may lack the paths a patch would need.
		return Mutation{}
	}
	agent := e.IsAgent(in)
	if !agent && e.Config().Scope != "all" {
		return Mutation{}
	}
	m := &mutator{base: x.Path, changes: map[string]bool{}}
	spec := x.PodSpec
	linux := spec.OS == nil || spec.OS.Name != corev1.Windows
	m.podSecurityContext(spec, linux)
	for i := range spec.InitContainers {
		m.container("/spec/initContainers/"+strconv.Itoa(i), &spec.InitContainers[i], linux, e.Config())
	}
	for i := range spec.Containers {
		m.container("/spec/containers/"+strconv.Itoa(i), &spec.Containers[i], linux, e.Config())
	}
	if agent {
		if settings, _ := e.AgentSettings(in); !settings.AutomountServiceAccountToken {
			m.disableAutomount(spec)
		}
		m.placement(spec, e.TenantOf(in))
	}
	stamps := map[string]string{}
	if agent {
		stamps = launchStamps(e, in, x)
	}
	if len(m.ops) == 0 && len(stamps) == 0 {
		return Mutation{}
	}
	changes := make([]string, 0, len(m.changes))
	for c := range m.changes {
		changes = append(changes, c)
	}
	slices.Sort(changes)
	m.annotate(x, changes, stamps)
	return Mutation{Patch: m.ops, Changes: changes}
}

// launchStamps returns the annotations that record an agent workload's
// admission (AG-GOV-001) and launch (AG-SEC-012). Pods get the bundle
// revision, the launch time and, unless inherited from their template, the
// launching user; templates get only the launching user, and only on
// creation, so that no later change rolls out the workload.
func launchStamps(e *guardrails.Engine, in *guardrails.Input, x *Extracted) map[string]string {
	have := x.PodMeta.Annotations
	out := map[string]string{}
	if in.Operation != "CREATE" {
		return out
	}
	if _, ok := have[guardrails.AnnotationLaunchedBy]; !ok && in.User != nil && in.User.Username != "" {
		out[guardrails.AnnotationLaunchedBy] = in.User.Username
	}
	if x.Path != "" {
		return out
	}
	if rev := e.Revision(); rev != "" && have[guardrails.AnnotationAdmitted] != rev {
		out[guardrails.AnnotationAdmitted] = rev
	}
	if _, ok := have[guardrails.AnnotationLaunchedAt]; !ok {
		out[guardrails.AnnotationLaunchedAt] = time.Now().UTC().Format(time.RFC3339)
	}
	return out
}

type mutator struct {
	base    string
	ops     []PatchOp
	changes map[string]bool
}

func (m *mutator) add(path string, v any, change string) {
	m.ops = append(m.ops, PatchOp{Op: "add", Path: m.base + path, Value: v})
	m.changes[change] = true
}

// podSecurityContext defaults runAsNonRoot (valid for Linux and Windows
// pods) and, for Linux pods, the seccomp profile.
func (m *mutator) podSecurityContext(spec *corev1.PodSpec, linux bool) {
	sc := corev1.PodSecurityContext{}
	if spec.SecurityContext != nil {
		sc = *spec.SecurityContext
	}
	changed := false
	if sc.RunAsNonRoot == nil {
		sc.RunAsNonRoot = ptr(true)
		m.changes["runAsNonRoot"] = true
		changed = true
	}
	if linux && sc.SeccompProfile == nil {
		sc.SeccompProfile = &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}
		m.changes["seccompProfile"] = true
		changed = true
	}
	if changed {
		// "add" replaces an existing member, so this works whether or not
		// securityContext is present in the request's JSON.
		m.ops = append(m.ops, PatchOp{Op: "add", Path: m.base + "/spec/securityContext", Value: sc})
	}
}

func (m *mutator) container(path string, c *corev1.Container, linux bool, cfg *guardrails.Config) {
	if linux {
		sc := corev1.SecurityContext{}
		if c.SecurityContext != nil {
			sc = *c.SecurityContext
		}
		changed := false
		privileged := sc.Privileged != nil && *sc.Privileged
		if sc.AllowPrivilegeEscalation == nil && !privileged && !addsSysAdmin(&sc) {
			// The API server rejects allowPrivilegeEscalation: false next
			// to privileged or CAP_SYS_ADMIN; those pods get a named
			// denial from the validating webhook instead.
			sc.AllowPrivilegeEscalation = ptr(false)
			m.changes["allowPrivilegeEscalation"] = true
			changed = true
		}
		if sc.Capabilities == nil {
			sc.Capabilities = &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}
			m.changes["capabilities"] = true
			changed = true
		} else if len(sc.Capabilities.Drop) == 0 {
			caps := *sc.Capabilities
			caps.Drop = []corev1.Capability{"ALL"}
			sc.Capabilities = &caps
			m.changes["capabilities"] = true
			changed = true
		}
		if changed {
			m.ops = append(m.ops, PatchOp{Op: "add", Path: m.base + path + "/securityContext", Value: sc})
		}
	}
	if res, ok := defaultResources(c.Resources, &cfg.Resources); ok {
		m.add(path+"/resources", res, "resources")
	}
}

func addsSysAdmin(sc *corev1.SecurityContext) bool {
	if sc.Capabilities == nil {
		return false
	}
	for _, c := range sc.Capabilities.Add {
		if c == "SYS_ADMIN" || c == "CAP_SYS_ADMIN" {
			return true
		}
	}
	return false
}

// defaultResources fills missing requests and limits from the config. A
// missing request takes the container's limit when it has one (as the API
// server does for Pods), and a default limit is raised to the request when
// the request is larger, so the result is always a valid pod.
func defaultResources(r corev1.ResourceRequirements, cfg *guardrails.ResourcesConfig) (corev1.ResourceRequirements, bool) {
	changed := false
	out := corev1.ResourceRequirements{Claims: r.Claims}
	out.Requests = r.Requests.DeepCopy()
	out.Limits = r.Limits.DeepCopy()
	for name, def := range cfg.DefaultRequests {
		if _, ok := out.Requests[name]; ok {
			continue
		}
		if lim, ok := out.Limits[name]; ok && lim.Cmp(def) < 0 {
			def = lim
		}
		if out.Requests == nil {
			out.Requests = corev1.ResourceList{}
		}
		out.Requests[name] = def.DeepCopy()
		changed = true
	}
	for name, def := range cfg.DefaultLimits {
		if _, ok := out.Limits[name]; ok {
			continue
		}
		if req, ok := out.Requests[name]; ok && req.Cmp(def) > 0 {
			def = req
		}
		if out.Limits == nil {
			out.Limits = corev1.ResourceList{}
		}
		out.Limits[name] = def.DeepCopy()
		changed = true
	}
	return out, changed
}

// disableAutomount sets automountServiceAccountToken: false where unset, and
// removes the token volume (and its mounts) that the ServiceAccount
// admission plugin added before this webhook ran.
func (m *mutator) disableAutomount(spec *corev1.PodSpec) {
	if spec.AutomountServiceAccountToken != nil {
		return // explicit: never overridden; validation judges it
	}
	m.add("/spec/automountServiceAccountToken", false, "automountServiceAccountToken")
	legacy := ""
	var keep []corev1.Volume
	for _, v := range spec.Volumes {
		if strings.HasPrefix(v.Name, guardrails.LegacyTokenVolumePrefix) && v.Projected != nil {
			legacy = v.Name
			continue
		}
		keep = append(keep, v)
	}
	if legacy == "" {
		return
	}
	if len(keep) == 0 {
		m.ops = append(m.ops, PatchOp{Op: "remove", Path: m.base + "/spec/volumes"})
	} else {
		m.ops = append(m.ops, PatchOp{Op: "replace", Path: m.base + "/spec/volumes", Value: keep})
	}
	fix := func(kind string, cs []corev1.Container) {
		for i, c := range cs {
			var mounts []corev1.VolumeMount
			found := false
			for _, vm := range c.VolumeMounts {
				if vm.Name == legacy {
					found = true
					continue
				}
				mounts = append(mounts, vm)
			}
			if !found {
				continue
			}
			p := m.base + "/spec/" + kind + "/" + strconv.Itoa(i) + "/volumeMounts"
			if len(mounts) == 0 {
				m.ops = append(m.ops, PatchOp{Op: "remove", Path: p})
			} else {
				m.ops = append(m.ops, PatchOp{Op: "replace", Path: p, Value: mounts})
			}
		}
	}
	fix("initContainers", spec.InitContainers)
	fix("containers", spec.Containers)
}

// annotate records the changes in agentguard.io/mutated on the pod
// (template), merged with what an earlier invocation recorded, and sets the
// stamps.
func (m *mutator) annotate(x *Extracted, changes []string, stamps map[string]string) {
	meta := x.PodMeta
	set := maps.Clone(stamps)
	if len(changes) > 0 {
		all := changes
		if old := meta.Annotations[guardrails.AnnotationMutated]; old != "" {
			all = append(strings.Split(old, ","), changes...)
			slices.Sort(all)
			all = slices.Compact(all)
		}
		set[guardrails.AnnotationMutated] = strings.Join(all, ",")
	}
	if meta.Annotations != nil {
		keys := slices.Sorted(maps.Keys(set))
		for _, k := range keys {
			m.ops = append(m.ops, PatchOp{Op: "add", Path: x.Path + "/metadata/annotations/" + escapePointer(k), Value: set[k]})
		}
		return
	}
	// The metadata (a template's in particular) may be absent from the
	// JSON, so add it whole; ObjectMeta round-trips without loss.
	md := meta.DeepCopy()
	md.Annotations = set
	m.ops = append(m.ops, PatchOp{Op: "add", Path: x.Path + "/metadata", Value: md})
}

// placement adds the tenant's node selector entries, tolerations and
// RuntimeClass where the pod has none (AG-SEC-107, AG-SEC-109). Conflicting
// explicit values are left for validation to deny.
func (m *mutator) placement(spec *corev1.PodSpec, t guardrails.Tenant) {
	var missing map[string]string
	for k, v := range t.NodeSelector {
		if _, ok := spec.NodeSelector[k]; !ok {
			if missing == nil {
				missing = map[string]string{}
			}
			missing[k] = v
		}
	}
	if missing != nil {
		merged := make(map[string]string, len(spec.NodeSelector)+len(missing))
		for k, v := range spec.NodeSelector {
			merged[k] = v
		}
		for k, v := range missing {
			merged[k] = v
		}
		m.add("/spec/nodeSelector", merged, "nodeSelector")
	}
	tols := slices.Clone(spec.Tolerations)
	for _, want := range t.Tolerations {
		if !slices.ContainsFunc(spec.Tolerations, func(have corev1.Toleration) bool { return sameToleration(have, want) }) {
			tols = append(tols, want)
		}
	}
	if len(tols) > len(spec.Tolerations) {
		m.add("/spec/tolerations", tols, "tolerations")
	}
	if t.RuntimeClassName != "" && spec.RuntimeClassName == nil {
		m.add("/spec/runtimeClassName", t.RuntimeClassName, "runtimeClassName")
	}
}

func sameToleration(a, b corev1.Toleration) bool {
	op := func(o corev1.TolerationOperator) corev1.TolerationOperator {
		if o == "" {
			return corev1.TolerationOpEqual
		}
		return o
	}
	return a.Key == b.Key && op(a.Operator) == op(b.Operator) && a.Value == b.Value && a.Effect == b.Effect
}

// escapePointer escapes a JSON pointer reference token (RFC 6901).
func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

func ptr[T any](v T) *T { return &v }
