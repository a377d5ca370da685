package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/agentguard/agentguard/conformance"
	"github.com/agentguard/agentguard/conformance/catalog"
	"github.com/agentguard/agentguard/conformance/report"
)

func newConformanceCmd(g *globalFlags) *cobra.Command {
	c := &cobra.Command{
		Use:   "conformance",
		Short: "Check a cluster and a PDP against the controls catalog (list, run)",
		Long: `conformance checks a cluster and a policy decision point against the controls
catalog (the white paper's agentic controls, shared/CONTROLS.md) and writes
reports for compliance teams: report.json, junit.xml, report.html and a
terminal summary. See docs/conformance.md.`,
	}
	c.AddCommand(newConformanceListCmd(), newConformanceRunCmd(g))
	return c
}

func newConformanceListCmd() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "Print the controls catalog",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cat, err := catalog.Default()
			if err != nil {
				return err
			}
			switch output {
			case "json":
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(cat)
			case "table":
				return catalogTable(cmd.OutOrStdout(), cat)
			default:
				return conformanceUsage("-o %q: want table or json", output)
			}
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	return cmd
}

func catalogTable(w io.Writer, cat *catalog.Catalog) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tLEVEL\tENFORCEMENT\tCHECK\tTITLE")
	auto := 0
	for _, c := range cat.Controls {
		level := c.Level
		if c.Advisory {
			level += " (advisory)"
		}
		check := c.Check
		if check == "" {
			check = "manual"
		} else {
			auto++
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.ID, level, c.Enforcement, check, c.Title)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\n%d entries, %d with an automated check\n", len(cat.Controls), auto)
	return nil
}

type conformanceRunFlags struct {
	kubeconfig, kubeContext string
	pdpURL, pdpTokenFile    string
	pdpCAFile               string
	approverTokenFile       string
	controls                []string
	profile                 string
	out                     string
	bundle                  string
	auditDir, auditPubKey   string
	pdpMetrics, whMetrics   string
	oscal, all              bool
	timeout                 time.Duration
}

func newConformanceRunCmd(g *globalFlags) *cobra.Command {
	f := &conformanceRunFlags{}
	cmd := &cobra.Command{
		Use:   "run -o DIR",
		Short: "Run the conformance checks and write the reports",
		Long: `run checks every selected control and writes report.json, junit.xml and
report.html into -o DIR, and a summary table to standard output. Admission
probes are server-side dry runs in namespaces the suite creates and deletes.
A check lacking what it needs (no cluster, no PDP) ends MANUAL, never PASS.

Exit status: 0 when no core control failed, 1 when one did, 2 on bad input
(an invalid profile, an unreachable cluster, an unknown control).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runConformance(cmd, g, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig of the cluster to check (default: $KUBECONFIG, ~/.kube/config or in-cluster; none: cluster checks are MANUAL)")
	fl.StringVar(&f.kubeContext, "context", "", "kubeconfig context")
	fl.StringVar(&f.pdpURL, "pdp", "", "PDP base URL, e.g. https://agentguard-pdp.agentguard-system:8181")
	fl.StringVar(&f.pdpTokenFile, "pdp-token-file", "", "bearer token of the PDP probe identity (profile pdp.caller)")
	fl.StringVar(&f.pdpCAFile, "pdp-ca-file", "", "PEM CA bundle that signs the PDP's (and the metrics endpoints') serving certificates (default: system roots)")
	fl.StringVar(&f.approverTokenFile, "approver-token-file", "", "bearer token of a grant approver (profile pdp.approver)")
	fl.StringSliceVar(&f.controls, "controls", nil, "control IDs to run, comma separated; AG-SEC-* selects a prefix (default: all)")
	fl.StringVar(&f.profile, "profile", "", "profile file (YAML): probe identities, namespaces, thresholds (default: the default bundle's)")
	fl.StringVarP(&f.out, "output", "o", "", "directory for report.json, junit.xml and report.html (required)")
	fl.StringVar(&f.bundle, "bundle", "", "local copy of the policy bundle, for the fallback checks (overrides the profile)")
	fl.StringVar(&f.auditDir, "audit-dir", "", "decision-log directory to verify (overrides the profile)")
	fl.StringVar(&f.auditPubKey, "audit-pubkey", "", "public key of the decision log (overrides the profile)")
	fl.StringVar(&f.pdpMetrics, "pdp-metrics-url", "", "PDP /metrics URL (default <pdp>/metrics)")
	fl.StringVar(&f.whMetrics, "webhook-metrics-url", "", "webhook /metrics URL")
	fl.BoolVar(&f.oscal, "oscal", false, "also write OSCAL assessment results (oscal-assessment-results.json)")
	fl.BoolVar(&f.all, "all", false, "list MANUAL controls in the terminal table too")
	fl.DurationVar(&f.timeout, "timeout", 15*time.Minute, "bound on the whole run")
	return cmd
}

func readToken(path, what string) (string, error) {
	if path == "" {
		return "", nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", conformanceUsage("read %s: %v", what, err)
	}
	tok := strings.TrimSpace(string(data))
	if tok == "" {
		return "", conformanceUsage("%s %s is empty", what, path)
	}
	return tok, nil
}

// kubeConfig loads the cluster config. explicit reports whether the user
// named one; without one, a missing default config means "no cluster".
func kubeConfig(f *conformanceRunFlags) (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if f.kubeconfig != "" {
		if _, err := os.Stat(f.kubeconfig); err != nil {
			return nil, conformanceUsage("--kubeconfig: %v", err)
		}
		rules.ExplicitPath = f.kubeconfig
	}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: f.kubeContext}).ClientConfig()
	if err != nil {
		if f.kubeconfig == "" && f.kubeContext == "" && clientcmd.IsEmptyConfig(err) {
			if ic, icErr := rest.InClusterConfig(); icErr == nil {
				return ic, nil
			}
			return nil, nil
		}
		return nil, conformanceUsage("kubeconfig: %v", err)
	}
	return cfg, nil
}

func runConformance(cmd *cobra.Command, g *globalFlags, f *conformanceRunFlags) error {
	if f.out == "" {
		return conformanceUsage("-o DIR is required")
	}
	prof := conformance.DefaultProfile()
	profName := "default"
	if f.profile != "" {
		p, err := conformance.LoadProfile(f.profile)
		if err != nil {
			return conformanceUsage("%v", err)
		}
		prof, profName = p, f.profile
	}
	if f.bundle != "" {
		prof.Bundle = f.bundle
	}
	if f.auditDir != "" {
		prof.DecisionLog.Dir = f.auditDir
	}
	if f.auditPubKey != "" {
		prof.DecisionLog.PublicKeyFile = f.auditPubKey
	}
	if f.pdpMetrics != "" {
		prof.Telemetry.PDPMetricsURL = f.pdpMetrics
	}
	if f.whMetrics != "" {
		prof.Telemetry.WebhookMetricsURL = f.whMetrics
	}
	if err := prof.Validate(); err != nil {
		return conformanceUsage("profile: %v", err)
	}
	tokenFile := f.pdpTokenFile
	if tokenFile == "" {
		tokenFile = prof.PDP.Caller.TokenFile
	}
	token, err := readToken(tokenFile, "PDP token file")
	if err != nil {
		return err
	}
	approverFile := f.approverTokenFile
	if approverFile == "" {
		approverFile = prof.PDP.Approver.TokenFile
	}
	approver, err := readToken(approverFile, "approver token file")
	if err != nil {
		return err
	}
	if f.pdpURL != "" && !strings.HasPrefix(f.pdpURL, "http://") && !strings.HasPrefix(f.pdpURL, "https://") {
		return conformanceUsage("--pdp %q: want an http:// or https:// URL", f.pdpURL)
	}
	hc, err := pdpHTTPClient(f.pdpCAFile, prof.PDP.RequestTimeout.Duration)
	if err != nil {
		return err
	}
	cfg, err := kubeConfig(f)
	if err != nil {
		return err
	}
	// Interrupting the run still deletes the suite's namespaces: checks
	// stop at the cancelled context and Run cleans up before returning.
	sigCtx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(sigCtx, f.timeout)
	defer cancel()
	errOut := cmd.ErrOrStderr()
	if cfg != nil {
		if err := reachable(ctx, cfg); err != nil {
			return conformanceUsage("%v", err)
		}
	} else {
		fmt.Fprintln(errOut, "no cluster configured: cluster checks will be MANUAL")
	}
	if f.pdpURL == "" {
		fmt.Fprintln(errOut, "no --pdp given: PDP checks will be MANUAL")
	}
	rep, err := conformance.Run(ctx, conformance.Options{
		Controls: f.controls, Profile: prof, ProfileName: profName, Kube: cfg,
		PDPURL: f.pdpURL, PDPToken: token, ApproverToken: approver, Version: version, HTTPClient: hc,
		Progress: func(p conformance.Progress) {
			if p.Result == nil {
				return
			}
			fmt.Fprintf(errOut, "[%3d/%d] %-6s %s %s\n", p.Index+1, p.Total, p.Result.Status, p.Control.ID, p.Control.Title)
		},
	})
	if err != nil {
		return conformanceUsage("%v", err)
	}
	if err := report.WriteDir(f.out, rep, f.oscal); err != nil {
		return err
	}
	if err := report.Table(cmd.OutOrStdout(), rep, f.all); err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "reports written to %s\n", f.out)
	if err := ctx.Err(); err != nil {
		return &exitError{code: 2, msg: fmt.Sprintf("run interrupted (%v): the reports are incomplete", err)}
	}
	if rep.Summary.CoreFailures > 0 {
		return &exitError{code: 1, msg: fmt.Sprintf("%d core control(s) failed", rep.Summary.CoreFailures)}
	}
	return nil
}

// pdpHTTPClient trusts caFile (PEM) on top of nothing else when given.
func pdpHTTPClient(caFile string, timeout time.Duration) (*http.Client, error) {
	if caFile == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, conformanceUsage("--pdp-ca-file: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, conformanceUsage("--pdp-ca-file %s holds no PEM certificate", caFile)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return &http.Client{Timeout: timeout, Transport: tr}, nil
}

// reachable asks the API server for its version, so an unreachable
// cluster is one clear error instead of an ERROR on every check.
func reachable(ctx context.Context, cfg *rest.Config) error {
	c := rest.CopyConfig(cfg)
	c.Timeout = 10 * time.Second
	cs, err := kubernetes.NewForConfig(c)
	if err != nil {
		return fmt.Errorf("kubernetes client: %w", err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := cs.Discovery().ServerVersion()
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("cannot reach the cluster at %s: %w", cfg.Host, err)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func conformanceUsage(format string, args ...any) error {
	return &exitError{code: 2, msg: fmt.Sprintf(format, args...)}
}
