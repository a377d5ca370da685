package conformance

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/agentguard/agentguard/conformance/catalog"
	"github.com/agentguard/agentguard/pdp"
)

// Options configures Run.
type Options struct {
	// Catalog defaults to catalog.Default().
	Catalog *catalog.Catalog
	// Controls selects control IDs (prefixes ending in "*" allowed); empty
	// runs the whole catalog.
	Controls []string
	// Profile defaults to DefaultProfile(); ProfileName is reported.
	Profile     *Profile
	ProfileName string
	// Kube is the cluster; nil runs no cluster checks (they end MANUAL).
	Kube *rest.Config
	// PDPURL is the PDP's base URL and PDPToken the caller's bearer token;
	// empty URL runs no PDP probes (they end MANUAL).
	PDPURL   string
	PDPToken string
	// ApproverToken approves grants that need a human (optional).
	ApproverToken string
	// HTTPClient talks to the PDP and metrics endpoints (its Transport is
	// also the PEP client's in the fallback check). Default: a client with
	// the profile's request timeout and the system roots.
	HTTPClient *http.Client
	// Progress is called before (started) and after each control.
	Progress func(p Progress)
	// Version is reported as the tool version.
	Version string
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Progress reports one control starting or finishing.
type Progress struct {
	Index, Total int
	Control      *catalog.Control
	// Result is nil when the control starts.
	Result *Result
}

// checkFunc runs one control's check.
type checkFunc func(ctx context.Context, s *session, r *record)

// checks maps catalog check names to their implementation.
func checks() map[string]checkFunc {
	return map[string]checkFunc{
		"admission/restricted-security-context":  checkRestrictedSecurityContext,
		"admission/non-root":                     checkNonRoot,
		"admission/approved-registries":          checkApprovedRegistries,
		"admission/no-literal-secrets":           checkNoLiteralSecrets,
		"admission/resources":                    checkResources,
		"admission/dedicated-service-account":    checkDedicatedServiceAccount,
		"admission/short-lived-tokens":           checkShortLivedTokens,
		"admission/secret-allowlist":             checkSecretAllowlist,
		"admission/tenancy":                      checkTenancy,
		"admission/registered-agents":            checkRegisteredAgents,
		"admission/filesystem":                   checkFilesystem,
		"inventory/guardrail-coverage":           checkGuardrailCoverage,
		"inventory/webhook-configuration":        checkWebhookConfiguration,
		"inventory/disruption-budgets":           checkDisruptionBudgets,
		"inventory/replica-spread":               checkReplicaSpread,
		"inventory/default-deny-networkpolicies": checkDefaultDenyNetworkPolicies,
		"inventory/agent-rbac":                   checkAgentRBAC,
		"pdp/caller-authentication":              checkCallerAuthentication,
		"pdp/tool-scoping":                       checkToolScoping,
		"pdp/jit-grants":                         checkJITGrants,
		"pdp/explained-decisions":                checkExplainedDecisions,
		"pdp/fallback":                           checkFallback,
		"bundle/fallback-declaration":            checkFallbackDeclaration,
		"decisionlog/verify":                     checkDecisionLog,
		"decisionlog/one-record-per-decision":    checkOneRecordPerDecision,
		"decisionlog/record-fields":              checkRecordFields,
		"telemetry/metrics":                      checkMetrics,
		"telemetry/decision-counter":             checkDecisionCounter,
		"bundle/regression-tests":                checkBundleTests,
		"pdp/user-delegation":                    checkUserDelegation,
		"inventory/pdp-autoscaling":              checkPDPAutoscaling,
		"inventory/tenant-quotas":                checkTenantQuotas,
	}
}

// CheckNames lists the checks the suite implements.
func CheckNames() []string {
	var out []string
	for n := range checks() {
		out = append(out, n)
	}
	return out
}

// session is the shared state of one run.
type session struct {
	opts    Options
	profile *Profile
	nonce   string
	now     func() time.Time

	kube     kubernetes.Interface
	kubeHost string
	http     *http.Client

	nsOnce      sync.Once
	ns          *suiteNamespaces
	nsErr       error
	cleanupErrs []error

	bundleOnce sync.Once
	bundle     *pdp.Engine
	bundleErr  error
}

// Run runs the selected controls and returns the report. It returns an
// error only for bad options (an unknown control, an invalid profile, a
// catalog check the suite does not implement); every problem with the
// target ends up in the results.
func Run(ctx context.Context, opts Options) (*Report, error) {
	if opts.Catalog == nil {
		c, err := catalog.Default()
		if err != nil {
			return nil, err
		}
		opts.Catalog = c
	}
	if opts.Profile == nil {
		opts.Profile = DefaultProfile()
		if opts.ProfileName == "" {
			opts.ProfileName = "default"
		}
	} else if err := opts.Profile.Validate(); err != nil {
		return nil, fmt.Errorf("profile: %w", err)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.PDPURL != "" && !strings.HasPrefix(opts.PDPURL, "http://") && !strings.HasPrefix(opts.PDPURL, "https://") {
		return nil, fmt.Errorf("PDP URL %q: want http:// or https://", opts.PDPURL)
	}
	opts.PDPURL = strings.TrimSuffix(opts.PDPURL, "/")
	controls, err := opts.Catalog.Select(opts.Controls)
	if err != nil {
		return nil, err
	}
	impl := checks()
	for _, c := range controls {
		if c.Check != "" && impl[c.Check] == nil {
			return nil, fmt.Errorf("control %s names check %q, which this suite does not implement", c.ID, c.Check)
		}
	}
	s := &session{opts: opts, profile: opts.Profile, nonce: newNonce(), now: opts.Now}
	s.http = opts.HTTPClient
	if s.http == nil {
		s.http = &http.Client{Timeout: opts.Profile.PDP.RequestTimeout.Duration}
	}
	if opts.Kube != nil {
		cfg := rest.CopyConfig(opts.Kube)
		cfg.Timeout = 30 * time.Second
		cs, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			return nil, fmt.Errorf("kubernetes client: %w", err)
		}
		s.kube, s.kubeHost = cs, cfg.Host
	}

	rep := &Report{
		SchemaVersion: SchemaVersion,
		Tool:          Tool{Name: "agentguard conformance", Version: opts.Version},
		StartedAt:     opts.Now().UTC(),
		Target:        Target{Cluster: s.kubeHost, PDP: opts.PDPURL, Profile: opts.ProfileName, Nonce: s.nonce},
	}
	defer s.cleanup()
	for i := range controls {
		ctl := &controls[i]
		if opts.Progress != nil {
			opts.Progress(Progress{Index: i, Total: len(controls), Control: ctl})
		}
		res := s.runOne(ctx, ctl, impl)
		rep.Results = append(rep.Results, res)
		if opts.Progress != nil {
			opts.Progress(Progress{Index: i, Total: len(controls), Control: ctl, Result: &res})
		}
	}
	s.cleanup()
	for _, err := range s.cleanupErrs {
		rep.CleanupErrors = append(rep.CleanupErrors, err.Error())
	}
	rep.FinishedAt = opts.Now().UTC()
	rep.Summary = Summarize(rep.Results)
	return rep, nil
}

func (s *session) runOne(ctx context.Context, ctl *catalog.Control, impl map[string]checkFunc) (res Result) {
	start := s.now()
	res = Result{ID: ctl.ID, Title: ctl.Title, Section: ctl.Section, Level: ctl.Level, Advisory: ctl.Advisory,
		Enforcement: ctl.Enforcement, Source: ctl.Source, Check: ctl.Check, Procedure: ctl.Procedure, StartedAt: start.UTC()}
	defer func() { res.DurationMS = s.now().Sub(start).Milliseconds() }()
	if ctl.Check == "" {
		res.Status, res.Summary = StatusManual, ctl.Manual
		return res
	}
	r := &record{}
	func() {
		defer func() {
			if p := recover(); p != nil {
				r.errorf("the check panicked: %v", p)
			}
		}()
		if err := ctx.Err(); err != nil {
			r.errorf("run cancelled: %v", err)
			return
		}
		impl[ctl.Check](ctx, s, r)
	}()
	res.Status, res.Summary = outcome(ctl, r)
	res.Evidence, res.NotCovered = r.evidence, r.notCovered
	return res
}

// needKube ends the check MANUAL when no cluster was given.
func (s *session) needKube(r *record) bool {
	if s.kube == nil {
		r.manual("no cluster given (--kubeconfig); this check needs one")
		return false
	}
	return true
}

// needPDP ends the check MANUAL when no PDP was given.
func (s *session) needPDP(r *record) bool {
	if s.opts.PDPURL == "" {
		r.manual("no PDP given (--pdp URL --pdp-token-file F); this check needs one")
		return false
	}
	if s.opts.PDPToken == "" {
		r.manual("no token for the PDP probe identity (--pdp-token-file or pdp.caller.tokenFile)")
		return false
	}
	return true
}

// engine loads the profile's bundle once.
func (s *session) engine() (*pdp.Engine, error) {
	s.bundleOnce.Do(func() {
		if s.profile.Bundle == "" {
			s.bundleErr = errNoBundle
			return
		}
		s.bundle, s.bundleErr = pdp.Load(s.profile.Bundle, pdp.Options{Grants: pdp.NewGrants(), Now: s.now})
	})
	return s.bundle, s.bundleErr
}

var errNoBundle = errors.New("no policy bundle given (profile bundle: or --bundle)")

// readTokenFile reads a bearer token; an empty path is no token.
func readTokenFile(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read token: %w", err)
	}
	return strings.TrimSpace(string(data)), nil
}

func newNonce() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// sleepCtx waits ms milliseconds; false when ctx ends first.
func sleepCtx(ctx context.Context, ms int) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(time.Duration(ms) * time.Millisecond):
		return true
	}
}
