package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/agentguard/agentguard/pdp"
	"github.com/agentguard/agentguard/pdp/client"
)

func newCheckCmd(_ *globalFlags) *cobra.Command {
	var (
		pdpURL, tokenFile, subject, action, resource, ctxJSON, bundle, output string
		timeout                                                               time.Duration
	)
	cmd := &cobra.Command{
		Use:   "check --subject TYPE:ID --action NAME --resource TYPE:ID",
		Short: "Ask the PDP about one call, as a PEP would (exit 0 allow, 1 deny, 2 error)",
		Long: `Ask the PDP about one call through the same client PEPs use (pdp/client):
a deadline, safe retries, and, when the PDP cannot be reached, the fallback that
--bundle declares in pdp/fallback.yaml (without --bundle every fallback denies).

Exit status: 0 allow, 1 deny, 2 error (bad input, or the PDP refused the request).`,
		Example: `  agentguard check --subject agent:acme-agents/triage --action call_tool \
    --resource tool:github/create_issue --token-file bin/run/tokens/agent_acme-agents_triage.token`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			req := &pdp.Request{Action: pdp.Action{Name: action}}
			var err error
			if req.Subject, err = parseEntityFlag("subject", subject); err != nil {
				return &exitError{code: 2, msg: err.Error()}
			}
			if req.Resource, err = parseEntityFlag("resource", resource); err != nil {
				return &exitError{code: 2, msg: err.Error()}
			}
			if action == "" {
				return &exitError{code: 2, msg: "--action is required"}
			}
			if ctxJSON != "" {
				if !json.Valid([]byte(ctxJSON)) || !strings.HasPrefix(strings.TrimSpace(ctxJSON), "{") {
					return &exitError{code: 2, msg: "--context must be a JSON object"}
				}
				req.Context = json.RawMessage(ctxJSON)
			}
			opts := client.Options{BaseURL: pdpURL, Timeout: timeout}
			if tokenFile != "" {
				opts.Token = &client.FileToken{Path: tokenFile}
			}
			if bundle != "" {
				eng, err := pdp.Load(bundle, pdp.Options{})
				if err != nil {
					return &exitError{code: 2, msg: err.Error()}
				}
				opts.Policy = func() *pdp.Engine { return eng }
			}
			c, err := client.New(opts)
			if err != nil {
				return &exitError{code: 2, msg: err.Error()}
			}
			defer func() { _ = c.Close() }()
			d, err := c.Evaluate(context.Background(), req)
			if err != nil {
				return &exitError{code: 2, msg: err.Error()}
			}
			out := cmd.OutOrStdout()
			if output == "json" {
				_ = json.NewEncoder(out).Encode(map[string]any{
					"allowed": d.Allowed, "source": d.Source, "mode": d.Mode, "reason": d.Reason, "context": d.Context,
				})
			} else {
				verdict := "deny"
				if d.Allowed {
					verdict = "allow"
				}
				fmt.Fprintf(out, "%s (%s", verdict, d.Source)
				if d.Mode != "" {
					fmt.Fprintf(out, ", fallback %s", d.Mode)
				}
				fmt.Fprintf(out, "): %s\n", d.Reason)
			}
			if !d.Allowed {
				return &exitError{code: 1}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&pdpURL, "pdp", "http://127.0.0.1:8181", "PDP base URL")
	f.StringVar(&tokenFile, "token-file", "", "file holding the bearer token (re-read when it rotates)")
	f.StringVar(&subject, "subject", "", "AuthZEN subject as TYPE:ID, e.g. agent:acme-agents/triage")
	f.StringVar(&action, "action", "", "AuthZEN action name, e.g. call_tool")
	f.StringVar(&resource, "resource", "", "AuthZEN resource as TYPE:ID, e.g. tool:github/create_issue")
	f.StringVar(&ctxJSON, "context", "", "AuthZEN context as a JSON object")
	f.StringVar(&bundle, "bundle", "", "bundle whose pdp/fallback.yaml applies when the PDP is unreachable")
	f.DurationVar(&timeout, "timeout", 2*time.Second, "deadline for the call, retries included")
	f.StringVarP(&output, "output", "o", "text", "output: text or json")
	return cmd
}

func parseEntityFlag(name, v string) (pdp.Entity, error) {
	typ, id, ok := strings.Cut(v, ":")
	if !ok || typ == "" || id == "" {
		return pdp.Entity{}, fmt.Errorf("--%s must be TYPE:ID, got %q", name, v)
	}
	return pdp.Entity{Type: typ, ID: id}, nil
}
