package conformance

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"
)

// Profile sets what the suite probes with and the thresholds it applies.
// Every field has a default that matches agentguard's default bundle
// (policies/); a profile file overrides only what it names.
type Profile struct {
	// Namespaces: the suite creates its namespaces as <prefix>-<nonce>-a
	// (tenant), -b (other tenant) and -p (no tenant), labelled with
	// SuiteLabels, and deletes them at the end. Default prefix "agconf",
	// default labels {agentguard.io/conformance: "true"}.
	NamespacePrefix string            `json:"namespacePrefix,omitempty"`
	SuiteLabels     map[string]string `json:"suiteLabels,omitempty"`
	// AgentLabel and TenantLabel are the labels that mark agent pods and
	// agent-tenant namespaces. Defaults agentguard.io/agent and
	// agentguard.io/tenant.
	AgentLabel  string `json:"agentLabel,omitempty"`
	TenantLabel string `json:"tenantLabel,omitempty"`
	// AdmittedAnnotation is the stamp the mutating webhook writes on agent
	// pods (AG-GOV-001). Default agentguard.io/admitted.
	AdmittedAnnotation string `json:"admittedAnnotation,omitempty"`
	// SystemNamespace is agentguard's own namespace. Default agentguard-system.
	SystemNamespace string `json:"systemNamespace,omitempty"`

	Admission AdmissionProfile `json:"admission"`
	Inventory InventoryProfile `json:"inventory"`
	PDP       PDPProfile       `json:"pdp"`
	// Bundle is a local copy of the policy bundle the PDP serves; the
	// fallback checks (AG-CC-005, AG-CC-006) read its fallback
	// declaration. Empty: those checks are MANUAL.
	Bundle      string             `json:"bundle,omitempty"`
	DecisionLog DecisionLogProfile `json:"decisionLog"`
	Telemetry   TelemetryProfile   `json:"telemetry"`
}

// AdmissionProfile is the agent the admission probes impersonate.
type AdmissionProfile struct {
	// Agent is a registered agent ID, Tenant its tenant, ServiceAccount
	// its dedicated ServiceAccount. Defaults research-bot, team-a,
	// research-bot.
	Agent          string `json:"agent,omitempty"`
	Tenant         string `json:"tenant,omitempty"`
	ServiceAccount string `json:"serviceAccount,omitempty"`
	// OtherTenant labels the second namespace. Default team-b.
	OtherTenant string `json:"otherTenant,omitempty"`
	// OtherAgentServiceAccount is a ServiceAccount registered to another
	// agent of the same tenant; empty skips that AG-SEC-001 probe.
	OtherAgentServiceAccount string `json:"otherAgentServiceAccount,omitempty"`
	// UnregisteredAgent is an agent ID missing from the registry.
	// Default agconf-unregistered-agent.
	UnregisteredAgent string `json:"unregisteredAgent,omitempty"`
	// Image is an allowed image; DisallowedImage one from a registry
	// outside the allow-list. Defaults
	// registry.corp.example/agents/research-bot:1.4.2 and
	// docker.io/library/busybox:1.36.
	Image           string `json:"image,omitempty"`
	DisallowedImage string `json:"disallowedImage,omitempty"`
	// AllowedSecret is a Secret key on the agent's allow-list; Default
	// openai/api-key. DisallowedSecret is a Secret that is not. Default
	// agconf-not-allowed.
	AllowedSecret    SecretKey `json:"allowedSecret"`
	DisallowedSecret string    `json:"disallowedSecret,omitempty"`
	// AllowedRegistries, when set, lets AG-GEN-003 scan running agent
	// pods' images against it.
	AllowedRegistries []string `json:"allowedRegistries,omitempty"`
	// RequiredWebhookResources must be covered by the validating webhook
	// rules (AG-CC-008), as resource or group/resource. Default: pods,
	// pods/ephemeralcontainers, apps deployments, statefulsets, daemonsets,
	// replicasets, batch jobs, cronjobs and namespaces.
	RequiredWebhookResources []string `json:"requiredWebhookResources,omitempty"`
	// MaxWebhookTimeoutSeconds bounds timeoutSeconds. Default 10.
	MaxWebhookTimeoutSeconds int32 `json:"maxWebhookTimeoutSeconds,omitempty"`
	// ExemptNamespaces may be excluded by the webhooks' namespaceSelector.
	// Default kube-system, kube-public, kube-node-lease and SystemNamespace.
	ExemptNamespaces []string `json:"exemptNamespaces,omitempty"`
	// WebhookName is a substring of the agentguard webhook names.
	// Default "agentguard".
	WebhookName string `json:"webhookName,omitempty"`
}

// SecretKey names one key of a Secret.
type SecretKey struct {
	Name string `json:"name,omitempty"`
	Key  string `json:"key,omitempty"`
}

// InventoryProfile tunes the cluster scan.
type InventoryProfile struct {
	// AgentguardSelector selects agentguard's Deployments in
	// SystemNamespace. Default app.kubernetes.io/name=agentguard.
	AgentguardSelector string `json:"agentguardSelector,omitempty"`
	// AgentServiceAccounts adds namespace/name ServiceAccounts to the RBAC
	// scan, beside those of running agent pods.
	AgentServiceAccounts []string `json:"agentServiceAccounts,omitempty"`
	// PDPName is a substring of the PDP Deployment's name (AG-GEN-204).
	// Default "pdp".
	PDPName string `json:"pdpName,omitempty"`
}

// Subject is an AuthZEN subject.
type Subject struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

// PDPProfile is who the PDP probes call as and what they ask for.
type PDPProfile struct {
	// Caller is the probe identity: the subject its token authenticates
	// (--pdp-token-file, or TokenFile). Default agent acme-agents/triage.
	Caller Identity `json:"caller"`
	// Approver may approve grants of GrantableTool when it needs a human;
	// optional.
	Approver Identity `json:"approver"`
	// DelegatedCaller is a user-delegated agent (AG-SEC-008); without a
	// token the check is MANUAL. Default subject agent
	// acme-agents/assistant. DelegatedTool is a tool on its allow-list and
	// DelegatedUser a user it may act for. Defaults github/search_issues,
	// alice@acme.example.
	DelegatedCaller Identity `json:"delegatedCaller"`
	DelegatedTool   string   `json:"delegatedTool,omitempty"`
	DelegatedUser   string   `json:"delegatedUser,omitempty"`
	// SpoofSubject is another agent the caller must not be able to name.
	// Default agent globex-agents/sales.
	SpoofSubject Subject `json:"spoofSubject"`
	// ResourceType and Action of the probes. Defaults tool and call_tool.
	ResourceType string `json:"resourceType,omitempty"`
	Action       string `json:"action,omitempty"`
	// AllowedTool the caller may call; DeniedTools it may not (another
	// tenant's tool, an unregistered tool). Defaults github/search_issues;
	// crm/export_contacts and agconf/unregistered-tool.
	AllowedTool string   `json:"allowedTool,omitempty"`
	DeniedTools []string `json:"deniedTools,omitempty"`
	// GrantableTool is denied without a grant but grantable (AG-SEC-101).
	// Default github/merge_pr.
	GrantableTool string `json:"grantableTool,omitempty"`
	// GrantTTL is the grant the suite asks for; it waits GrantTTL plus
	// ClockSkew before checking the grant expired. Defaults 5s and 2s.
	GrantTTL  metav1.Duration `json:"grantTTL"`
	ClockSkew metav1.Duration `json:"clockSkew"`
	// FallbackTools are the tools the fallback probe asks about; an
	// unlisted tool is always added. Default: AllowedTool, GrantableTool,
	// payments/refund and github/create_issue.
	FallbackTools []string `json:"fallbackTools,omitempty"`
	// MaxStale bounds a cached fallback's maxStale (AG-CC-005). Default 15m.
	MaxStale metav1.Duration `json:"maxStale"`
	// StrictFallback requires deny for high-sensitivity tools.
	StrictFallback bool `json:"strictFallback,omitempty"`
	// RequestTimeout bounds each PDP request. Default 10s.
	RequestTimeout metav1.Duration `json:"requestTimeout"`
}

// Identity is a probe caller.
type Identity struct {
	Subject Subject `json:"subject"`
	// TokenFile holds its bearer token.
	TokenFile string `json:"tokenFile,omitempty"`
}

// DecisionLogProfile locates the decision log to verify (AG-SEC-011).
type DecisionLogProfile struct {
	Dir           string `json:"dir,omitempty"`
	PublicKeyFile string `json:"publicKeyFile,omitempty"`
}

// TelemetryProfile locates /metrics endpoints (AG-GEN-104, AG-OBS-002).
type TelemetryProfile struct {
	// PDPMetricsURL defaults to <pdp>/metrics when a PDP is given.
	PDPMetricsURL     string `json:"pdpMetricsURL,omitempty"`
	WebhookMetricsURL string `json:"webhookMetricsURL,omitempty"`
	// Required metrics (name and labels) on each endpoint. Defaults:
	// agentguard_pdp_decisions_total{decision},
	// agentguard_pdp_decision_duration_seconds;
	// agentguard_admission_requests_total{outcome},
	// agentguard_admission_violations_total{control},
	// agentguard_admission_duration_seconds.
	RequiredPDPMetrics     []MetricRequirement `json:"requiredPDPMetrics,omitempty"`
	RequiredWebhookMetrics []MetricRequirement `json:"requiredWebhookMetrics,omitempty"`
	// InsecureSkipVerify accepts any TLS certificate on the metrics URLs.
	InsecureSkipVerify bool `json:"insecureSkipVerify,omitempty"`
}

// MetricRequirement is a metric family and the labels it must carry.
type MetricRequirement struct {
	Name   string   `json:"name"`
	Labels []string `json:"labels,omitempty"`
}

// DefaultProfile returns the profile for agentguard's default bundle.
func DefaultProfile() *Profile {
	p := &Profile{}
	p.setDefaults()
	return p
}

func def[T comparable](v *T, d T) {
	var zero T
	if *v == zero {
		*v = d
	}
}

func defDur(v *metav1.Duration, d time.Duration) {
	if v.Duration == 0 {
		v.Duration = d
	}
}

func (p *Profile) setDefaults() {
	def(&p.NamespacePrefix, "agconf")
	if len(p.SuiteLabels) == 0 {
		p.SuiteLabels = map[string]string{"agentguard.io/conformance": "true"}
	}
	def(&p.AgentLabel, "agentguard.io/agent")
	def(&p.TenantLabel, "agentguard.io/tenant")
	def(&p.AdmittedAnnotation, "agentguard.io/admitted")
	def(&p.SystemNamespace, "agentguard-system")

	a := &p.Admission
	def(&a.Agent, "research-bot")
	def(&a.Tenant, "team-a")
	def(&a.ServiceAccount, "research-bot")
	def(&a.OtherTenant, "team-b")
	def(&a.UnregisteredAgent, "agconf-unregistered-agent")
	def(&a.Image, "registry.corp.example/agents/research-bot:1.4.2")
	def(&a.DisallowedImage, "docker.io/library/busybox:1.36")
	def(&a.AllowedSecret.Name, "openai")
	def(&a.AllowedSecret.Key, "api-key")
	def(&a.DisallowedSecret, "agconf-not-allowed")
	if len(a.RequiredWebhookResources) == 0 {
		a.RequiredWebhookResources = []string{"pods", "pods/ephemeralcontainers", "apps/deployments", "apps/statefulsets",
			"apps/daemonsets", "apps/replicasets", "batch/jobs", "batch/cronjobs", "namespaces"}
	}
	def(&a.MaxWebhookTimeoutSeconds, 10)
	if len(a.ExemptNamespaces) == 0 {
		a.ExemptNamespaces = []string{"kube-system", "kube-public", "kube-node-lease", p.SystemNamespace}
	}
	def(&a.WebhookName, "agentguard")

	def(&p.Inventory.AgentguardSelector, "app.kubernetes.io/name=agentguard")
	def(&p.Inventory.PDPName, "pdp")

	d := &p.PDP
	def(&d.Caller.Subject.Type, "agent")
	def(&d.Caller.Subject.ID, "acme-agents/triage")
	def(&d.DelegatedCaller.Subject.Type, "agent")
	def(&d.DelegatedCaller.Subject.ID, "acme-agents/assistant")
	def(&d.DelegatedTool, "github/search_issues")
	def(&d.DelegatedUser, "alice@acme.example")
	def(&d.SpoofSubject.Type, "agent")
	def(&d.SpoofSubject.ID, "globex-agents/sales")
	def(&d.ResourceType, "tool")
	def(&d.Action, "call_tool")
	def(&d.AllowedTool, "github/search_issues")
	if len(d.DeniedTools) == 0 {
		d.DeniedTools = []string{"crm/export_contacts", "agconf/unregistered-tool"}
	}
	def(&d.GrantableTool, "github/merge_pr")
	defDur(&d.GrantTTL, 5*time.Second)
	defDur(&d.ClockSkew, 2*time.Second)
	if len(d.FallbackTools) == 0 {
		d.FallbackTools = []string{d.AllowedTool, d.GrantableTool, "payments/refund", "github/create_issue"}
	}
	defDur(&d.MaxStale, 15*time.Minute)
	defDur(&d.RequestTimeout, 10*time.Second)

	t := &p.Telemetry
	if len(t.RequiredPDPMetrics) == 0 {
		t.RequiredPDPMetrics = []MetricRequirement{
			{Name: "agentguard_pdp_decisions_total", Labels: []string{"decision"}},
			{Name: "agentguard_pdp_decision_duration_seconds"},
		}
	}
	if len(t.RequiredWebhookMetrics) == 0 {
		t.RequiredWebhookMetrics = []MetricRequirement{
			{Name: "agentguard_admission_requests_total", Labels: []string{"outcome"}},
			{Name: "agentguard_admission_violations_total", Labels: []string{"control"}},
			{Name: "agentguard_admission_duration_seconds"},
		}
	}
}

// LoadProfile reads a profile file (YAML or JSON). Unknown fields are
// errors; defaults fill what the file leaves out.
func LoadProfile(path string) (*Profile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read profile: %w", err)
	}
	p, err := ParseProfile(data)
	if err != nil {
		return nil, fmt.Errorf("profile %s: %w", path, err)
	}
	return p, nil
}

// ParseProfile decodes and validates a profile.
func ParseProfile(data []byte) (*Profile, error) {
	p := &Profile{}
	if err := yaml.UnmarshalStrict(data, p); err != nil {
		return nil, err
	}
	p.setDefaults()
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return p, nil
}

// Validate reports every problem in the profile at once.
func (p *Profile) Validate() error {
	var errs []error
	name := func(field, v string) {
		if msgs := validation.IsDNS1123Label(v); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("%s: %q is not a valid name: %s", field, v, msgs[0]))
		}
	}
	if len(p.NamespacePrefix) > 40 {
		errs = append(errs, fmt.Errorf("namespacePrefix: at most 40 characters"))
	} else {
		name("namespacePrefix", p.NamespacePrefix)
	}
	for k, v := range p.SuiteLabels {
		if msgs := validation.IsQualifiedName(k); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("suiteLabels: key %q: %s", k, msgs[0]))
		}
		if msgs := validation.IsValidLabelValue(v); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("suiteLabels[%s]: %s", k, msgs[0]))
		}
	}
	for field, v := range map[string]string{"agentLabel": p.AgentLabel, "tenantLabel": p.TenantLabel, "admittedAnnotation": p.AdmittedAnnotation} {
		if msgs := validation.IsQualifiedName(v); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("%s: %q: %s", field, v, msgs[0]))
		}
	}
	name("systemNamespace", p.SystemNamespace)
	name("admission.serviceAccount", p.Admission.ServiceAccount)
	for field, v := range map[string]string{"admission.agent": p.Admission.Agent, "admission.tenant": p.Admission.Tenant,
		"admission.otherTenant": p.Admission.OtherTenant, "admission.unregisteredAgent": p.Admission.UnregisteredAgent} {
		if msgs := validation.IsValidLabelValue(v); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("%s: %q: %s", field, v, msgs[0]))
		}
	}
	if p.Admission.Tenant == p.Admission.OtherTenant {
		errs = append(errs, errors.New("admission.otherTenant must differ from admission.tenant"))
	}
	if p.Admission.MaxWebhookTimeoutSeconds < 1 || p.Admission.MaxWebhookTimeoutSeconds > 30 {
		errs = append(errs, errors.New("admission.maxWebhookTimeoutSeconds: between 1 and 30"))
	}
	for field, s := range map[string]Subject{"pdp.caller.subject": p.PDP.Caller.Subject, "pdp.spoofSubject": p.PDP.SpoofSubject} {
		if s.Type == "" || s.ID == "" {
			errs = append(errs, fmt.Errorf("%s: type and id are required", field))
		}
	}
	if p.PDP.SpoofSubject == p.PDP.Caller.Subject {
		errs = append(errs, errors.New("pdp.spoofSubject must differ from pdp.caller.subject"))
	}
	if p.PDP.GrantTTL.Duration < time.Second || p.PDP.GrantTTL.Duration > 5*time.Minute {
		errs = append(errs, errors.New("pdp.grantTTL: between 1s and 5m"))
	}
	if p.PDP.ClockSkew.Duration < 0 || p.PDP.ClockSkew.Duration > time.Minute {
		errs = append(errs, errors.New("pdp.clockSkew: between 0 and 1m"))
	}
	if p.PDP.RequestTimeout.Duration <= 0 {
		errs = append(errs, errors.New("pdp.requestTimeout: must be positive"))
	}
	for field, u := range map[string]string{"telemetry.pdpMetricsURL": p.Telemetry.PDPMetricsURL, "telemetry.webhookMetricsURL": p.Telemetry.WebhookMetricsURL} {
		if u == "" {
			continue
		}
		if pu, err := url.Parse(u); err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
			errs = append(errs, fmt.Errorf("%s: %q is not an http(s) URL", field, u))
		}
	}
	for _, m := range append(append([]MetricRequirement{}, p.Telemetry.RequiredPDPMetrics...), p.Telemetry.RequiredWebhookMetrics...) {
		if m.Name == "" {
			errs = append(errs, errors.New("telemetry: a required metric has no name"))
		}
	}
	return errors.Join(errs...)
}
