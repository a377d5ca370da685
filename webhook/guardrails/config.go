package guardrails

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// Well-known labels and annotations.
const (
	// LabelAgent on a pod (or pod template) names the agent it runs; its
	// presence makes the pod an agent workload.
	LabelAgent = "agentguard.io/agent"
	// LabelTenant on a Namespace makes it an agent tenant namespace; every
	// pod in it is an agent workload.
	LabelTenant = "agentguard.io/tenant"
	// AnnotationMutated lists the secure defaults the mutating webhook set.
	AnnotationMutated = "agentguard.io/mutated"
	// AnnotationAdmitted on an agent Pod records the bundle revision it was
	// admitted under, so a scan can find agent pods that bypassed the
	// webhook (AG-GOV-001).
	AnnotationAdmitted = "agentguard.io/admitted"
	// AnnotationLaunchedBy records who launched an agent workload: the
	// requesting user when its Pod or controller was created (pods made by
	// a controller inherit it from the template), AG-SEC-012.
	AnnotationLaunchedBy = "agentguard.io/launched-by"
	// AnnotationLaunchedAt records when an agent Pod was admitted (RFC 3339).
	AnnotationLaunchedAt = "agentguard.io/launched-at"
)

// ConfigAPIVersion and ConfigKind identify admission/config.yaml.
const (
	ConfigAPIVersion = "agentguard.io/v1alpha1"
	ConfigKind       = "AdmissionConfig"
)

// Config is the admission part of a bundle (admission/config.yaml). The zero
// value of every field means its documented default; see docs/admission.md.
type Config struct {
	// APIVersion must be agentguard.io/v1alpha1 (default).
	APIVersion string `json:"apiVersion,omitempty"`
	// Kind must be AdmissionConfig (default).
	Kind string `json:"kind,omitempty"`

	// SystemNamespace is agentguard's own namespace. It and kube-system are
	// always exempt. Default "agentguard-system".
	SystemNamespace string `json:"systemNamespace,omitempty"`
	// Scope selects the pods the container guardrails (AG-GEN-*) apply to:
	// "agents" (default) for agent workloads only, "all" for every pod in a
	// namespace that is not exempt. Identity and tenancy checks (AG-SEC-*)
	// always apply to agent workloads only.
	Scope string `json:"scope,omitempty"`
	// DefaultMode is the mode of every check not listed in Modes. Default
	// enforce.
	DefaultMode Mode `json:"defaultMode,omitempty"`
	// Modes overrides the mode per check name (e.g. "resources",
	// "psa.runAsNonRoot") or per control ID (e.g. "AG-GEN-201", also for
	// custom Rego rules). A check name wins over its control ID.
	Modes map[string]Mode `json:"modes,omitempty"`
	// Exemptions lists objects no guardrail applies to.
	Exemptions Exemptions `json:"exemptions,omitempty"`
	// AdminGroups may set, change or remove the tenant label on Namespaces
	// and change or remove the agent and tenant labels on workloads.
	// Default ["system:masters"].
	AdminGroups []string `json:"adminGroups,omitempty"`
	// AllowedRegistries are the registries (or repository prefixes) images
	// may come from, e.g. "registry.corp.example" or "ghcr.io/acme/". Images
	// without a registry are docker.io images. Empty allows every registry.
	AllowedRegistries []string `json:"allowedRegistries,omitempty"`
	// Resources configures AG-GEN-201.
	Resources ResourcesConfig `json:"resources,omitempty"`
	// Tokens configures AG-SEC-004.
	Tokens TokensConfig `json:"tokens,omitempty"`
	// Secrets configures AG-GEN-007.
	Secrets SecretsConfig `json:"secrets,omitempty"`
	// RequireRegisteredAgents denies agent workloads whose agent ID is not
	// listed in Agents (AG-SEC-012). Default false.
	RequireRegisteredAgents bool `json:"requireRegisteredAgents,omitempty"`
	// Tenants holds per-tenant settings, keyed by the value of the
	// agentguard.io/tenant namespace label.
	Tenants map[string]Tenant `json:"tenants,omitempty"`
	// Agents is the agent registry, keyed by the value of the
	// agentguard.io/agent pod label.
	Agents map[string]Agent `json:"agents,omitempty"`
}

// Exemptions lists namespaces and labels that no guardrail applies to.
type Exemptions struct {
	// Namespaces are exempt by name (in addition to kube-system and
	// SystemNamespace).
	Namespaces []string `json:"namespaces,omitempty"`
	// NamespaceLabels exempts namespaces carrying any of these label
	// key/value pairs ("*" matches any value).
	NamespaceLabels map[string]string `json:"namespaceLabels,omitempty"`
	// PodLabels exempts pods (and pod templates) carrying any of these label
	// key/value pairs ("*" matches any value). Anyone who may create pods can
	// set a pod label, so keep this empty unless RBAC or another policy
	// controls the label.
	PodLabels map[string]string `json:"podLabels,omitempty"`
}

// ResourcesConfig configures requests and limits (AG-GEN-201).
type ResourcesConfig struct {
	// DefaultRequests are set by the mutating webhook where a container has
	// no request for that resource (its limit is used instead when one is
	// set). Default cpu 100m, memory 128Mi.
	DefaultRequests corev1.ResourceList `json:"defaultRequests,omitempty"`
	// DefaultLimits are set by the mutating webhook where a container has no
	// limit for that resource (its request is used instead when larger).
	// Default memory 256Mi.
	DefaultLimits corev1.ResourceList `json:"defaultLimits,omitempty"`
}

// TokensConfig configures service account tokens (AG-SEC-004).
type TokensConfig struct {
	// MaxExpirationSeconds is the longest expirationSeconds a projected
	// service account token may ask for. Default 3600.
	MaxExpirationSeconds int64 `json:"maxExpirationSeconds,omitempty"`
}

// SecretsConfig configures the literal-secret detector (AG-GEN-007).
type SecretsConfig struct {
	// NamePatterns are case-insensitive substrings of environment variable
	// names that mark a secret (a literal value is then refused). Default:
	// PASSWORD, PASSWD, SECRET, TOKEN, API_KEY, APIKEY, ACCESS_KEY,
	// PRIVATE_KEY, CREDENTIAL.
	NamePatterns []string `json:"namePatterns,omitempty"`
	// AllowedNames are environment variable names exempt from the name
	// patterns (not from the value detectors).
	AllowedNames []string `json:"allowedNames,omitempty"`
}

// Tenant holds per-tenant settings.
type Tenant struct {
	// MaxPerContainer caps each container's requests and limits, e.g.
	// {cpu: "4", memory: 8Gi, nvidia.com/gpu: "1"}.
	MaxPerContainer corev1.ResourceList `json:"maxPerContainer,omitempty"`
	// NodeSelector pins the tenant's agent pods to its own nodes
	// (AG-SEC-107): the mutating webhook adds missing entries, and a pod may
	// not select (or require by node affinity) other values for these keys.
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`
	// Tolerations let the tenant's pods onto its tainted nodes; the mutating
	// webhook adds missing ones. A pod may not tolerate the same taint keys
	// with other values, nor every taint at once.
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`
	// ExtendedResources, when set, are the only extended resources (GPU
	// models, MIG profiles) the tenant's pods may ask for (AG-SEC-107).
	ExtendedResources []corev1.ResourceName `json:"extendedResources,omitempty"`
	// RuntimeClassName, when set, is the sandboxed runtime every agent pod
	// of the tenant runs in (AG-SEC-109); the mutating webhook sets it where
	// unset.
	RuntimeClassName string `json:"runtimeClassName,omitempty"`
}

// Agent is one entry of the agent registry.
type Agent struct {
	// Tenant is the tenant the agent belongs to; its pods must run in a
	// namespace labelled with it. Empty allows any tenant namespace.
	Tenant string `json:"tenant,omitempty"`
	// ServiceAccount is the agent's dedicated ServiceAccount. Empty means any
	// ServiceAccount other than "default" and those registered to other
	// agents.
	ServiceAccount string `json:"serviceAccount,omitempty"`
	// AutomountServiceAccountToken allows the legacy automounted API token.
	// Default false.
	AutomountServiceAccountToken bool `json:"automountServiceAccountToken,omitempty"`
	// Secrets the agent may reference: "name" for the whole Secret, or
	// "name/key" for one key.
	Secrets []string `json:"secrets,omitempty"`
	// ConfigMaps the agent may reference: "name" or "name/key".
	// kube-root-ca.crt is always allowed.
	ConfigMaps []string `json:"configMaps,omitempty"`
	// Suspended agents are refused (AG-SEC-012).
	Suspended bool `json:"suspended,omitempty"`
}

// ErrInvalidConfig is returned (wrapped) for any admission config that is
// refused.
var ErrInvalidConfig = errors.New("invalid admission config")

// ParseConfig decodes admission/config.yaml strictly (unknown fields are
// errors that name the field), fills defaults and validates the whole
// document. An invalid config is refused as a whole.
func ParseConfig(data []byte) (*Config, error) {
	c := &Config{}
	js, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	if len(bytes.TrimSpace(js)) > 0 && !bytes.Equal(bytes.TrimSpace(js), []byte("null")) {
		strict, err := sigsjson.UnmarshalStrict(js, c)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
		}
		if len(strict) > 0 {
			// Unknown and duplicate fields, each named with its path.
			return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, errors.Join(strict...))
		}
	}
	if err := c.complete(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return c, nil
}

// DefaultConfig returns the configuration used when a bundle has no
// admission/config.yaml.
func DefaultConfig() *Config {
	c := &Config{}
	if err := c.complete(); err != nil {
		panic(err) // the defaults are valid by construction
	}
	return c
}

func (c *Config) complete() error {
	c.setDefaults()
	return c.validate()
}

func (c *Config) setDefaults() {
	if c.APIVersion == "" {
		c.APIVersion = ConfigAPIVersion
	}
	if c.Kind == "" {
		c.Kind = ConfigKind
	}
	if c.SystemNamespace == "" {
		c.SystemNamespace = "agentguard-system"
	}
	if c.Scope == "" {
		c.Scope = "agents"
	}
	if c.DefaultMode == "" {
		c.DefaultMode = ModeEnforce
	}
	if c.AdminGroups == nil {
		c.AdminGroups = []string{"system:masters"}
	}
	if c.Resources.DefaultRequests == nil {
		c.Resources.DefaultRequests = corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse("100m"),
			corev1.ResourceMemory: resource.MustParse("128Mi"),
		}
	}
	if c.Resources.DefaultLimits == nil {
		c.Resources.DefaultLimits = corev1.ResourceList{
			corev1.ResourceMemory: resource.MustParse("256Mi"),
		}
	}
	if c.Tokens.MaxExpirationSeconds == 0 {
		c.Tokens.MaxExpirationSeconds = 3600
	}
	if c.Secrets.NamePatterns == nil {
		c.Secrets.NamePatterns = []string{"PASSWORD", "PASSWD", "SECRET", "TOKEN", "API_KEY", "APIKEY", "ACCESS_KEY", "PRIVATE_KEY", "CREDENTIAL"}
	}
}

func (c *Config) validate() error {
	var errs []error
	if c.APIVersion != ConfigAPIVersion {
		errs = append(errs, fmt.Errorf("apiVersion %q: want %s", c.APIVersion, ConfigAPIVersion))
	}
	if c.Kind != ConfigKind {
		errs = append(errs, fmt.Errorf("kind %q: want %s", c.Kind, ConfigKind))
	}
	if msgs := validation.IsDNS1123Label(c.SystemNamespace); len(msgs) > 0 {
		errs = append(errs, fmt.Errorf("systemNamespace %q: %s", c.SystemNamespace, strings.Join(msgs, "; ")))
	}
	if c.Scope != "agents" && c.Scope != "all" {
		errs = append(errs, fmt.Errorf("scope %q: want agents or all", c.Scope))
	}
	if err := parseMode("defaultMode", c.DefaultMode); err != nil {
		errs = append(errs, err)
	}
	for _, k := range sortedKeys(c.Modes) {
		if err := parseMode("modes."+k, c.Modes[k]); err != nil {
			errs = append(errs, err)
		}
		if !knownModeKey(k) {
			errs = append(errs, fmt.Errorf("modes.%s: unknown check name or control ID (want a check name such as %q or a control ID such as %q)", k, "resources", "AG-GEN-201"))
		}
	}
	for i, r := range c.AllowedRegistries {
		if strings.TrimSpace(r) == "" || strings.ContainsAny(r, " \t@") {
			errs = append(errs, fmt.Errorf("allowedRegistries[%d] %q: want a registry host or repository prefix", i, r))
		}
	}
	for name, q := range c.Resources.DefaultRequests {
		if q.Sign() <= 0 {
			errs = append(errs, fmt.Errorf("resources.defaultRequests.%s: must be positive", name))
		}
	}
	for name, q := range c.Resources.DefaultLimits {
		if q.Sign() <= 0 {
			errs = append(errs, fmt.Errorf("resources.defaultLimits.%s: must be positive", name))
		}
		if req, ok := c.Resources.DefaultRequests[name]; ok && req.Cmp(q) > 0 {
			errs = append(errs, fmt.Errorf("resources.defaultLimits.%s: %s is below the default request %s", name, q.String(), req.String()))
		}
	}
	if c.Tokens.MaxExpirationSeconds < 600 {
		errs = append(errs, fmt.Errorf("tokens.maxExpirationSeconds %d: Kubernetes' minimum is 600", c.Tokens.MaxExpirationSeconds))
	}
	for _, name := range sortedKeys(c.Tenants) {
		t := c.Tenants[name]
		for rn, q := range t.MaxPerContainer {
			if q.Sign() < 0 {
				errs = append(errs, fmt.Errorf("tenants.%s.maxPerContainer.%s: must not be negative", name, rn))
			}
		}
		for _, k := range sortedKeys(t.NodeSelector) {
			if msgs := append(validation.IsQualifiedName(k), validation.IsValidLabelValue(t.NodeSelector[k])...); len(msgs) > 0 {
				errs = append(errs, fmt.Errorf("tenants.%s.nodeSelector.%s: %s", name, k, strings.Join(msgs, "; ")))
			}
		}
		for i, tol := range t.Tolerations {
			if tol.Key == "" || (tol.Operator != "" && tol.Operator != corev1.TolerationOpEqual && tol.Operator != corev1.TolerationOpExists) {
				errs = append(errs, fmt.Errorf("tenants.%s.tolerations[%d]: want a key and operator Equal or Exists", name, i))
			}
		}
		if t.RuntimeClassName != "" {
			if msgs := validation.IsDNS1123Subdomain(t.RuntimeClassName); len(msgs) > 0 {
				errs = append(errs, fmt.Errorf("tenants.%s.runtimeClassName %q: %s", name, t.RuntimeClassName, strings.Join(msgs, "; ")))
			}
		}
	}
	owners := map[string]string{}
	for _, id := range sortedKeys(c.Agents) {
		a := c.Agents[id]
		if msgs := validation.IsValidLabelValue(id); len(msgs) > 0 || id == "" {
			errs = append(errs, fmt.Errorf("agents.%s: agent ID must be a valid label value", id))
		}
		if a.Tenant != "" {
			if _, ok := c.Tenants[a.Tenant]; !ok && len(c.Tenants) > 0 {
				errs = append(errs, fmt.Errorf("agents.%s.tenant %q: not listed in tenants", id, a.Tenant))
			}
		}
		if a.ServiceAccount == "default" {
			errs = append(errs, fmt.Errorf("agents.%s.serviceAccount: \"default\" is not a dedicated ServiceAccount", id))
		}
		if a.ServiceAccount != "" {
			key := a.Tenant + "/" + a.ServiceAccount
			if other, ok := owners[key]; ok {
				errs = append(errs, fmt.Errorf("agents.%s.serviceAccount %q: already registered to agent %q", id, a.ServiceAccount, other))
			}
			owners[key] = id
		}
		for i, s := range a.Secrets {
			if err := validRef(s); err != nil {
				errs = append(errs, fmt.Errorf("agents.%s.secrets[%d]: %w", id, i, err))
			}
		}
		for i, s := range a.ConfigMaps {
			if err := validRef(s); err != nil {
				errs = append(errs, fmt.Errorf("agents.%s.configMaps[%d]: %w", id, i, err))
			}
		}
	}
	return errors.Join(errs...)
}

func validRef(s string) error {
	name, _, _ := strings.Cut(s, "/")
	if msgs := validation.IsDNS1123Subdomain(name); len(msgs) > 0 {
		return fmt.Errorf("%q: want \"name\" or \"name/key\": %s", s, strings.Join(msgs, "; "))
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// modeFor returns the mode of a violation of check (with control ID id).
func (c *Config) modeFor(check, id string) Mode {
	if m, ok := c.Modes[check]; ok {
		return m
	}
	if m, ok := c.Modes[id]; ok {
		return m
	}
	return c.DefaultMode
}

func (c *Config) isAdmin(groups []string) bool {
	for _, g := range groups {
		if slices.Contains(c.AdminGroups, g) {
			return true
		}
	}
	return false
}
