package main

import (
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/agentguard/agentguard/internal/telemetry"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

type globalFlags struct {
	logLevel  string
	logFormat string
}

func (g *globalFlags) logger() (*slog.Logger, error) {
	return telemetry.NewLogger(os.Stderr, g.logLevel, g.logFormat)
}

func newRootCmd() *cobra.Command {
	g := &globalFlags{}
	root := &cobra.Command{
		Use:   "agentguard",
		Short: "Guardrails for AI agents on Kubernetes: admission webhook and tool-call PDP",
		Long: `agentguard guards AI agent workloads on Kubernetes.

  serve        run the policy decision point (AuthZEN 1.0) and/or the admission webhook
  admit        evaluate Kubernetes manifests offline, as the webhook would
  check        ask the PDP about one call, as a PEP would (exit 0 allow, 1 deny, 2 error)
  bundle       build, test, sign, verify and distribute policy bundles
  audit        verify and read the tamper-evident decision log
  conformance  check a cluster and a PDP against the controls catalog
  dev          local development helpers (dev tokens)
  version      print the version`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&g.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	root.PersistentFlags().StringVar(&g.logFormat, "log-format", "json", "log format: json or text")
	root.AddCommand(newServeCmd(g), newAdmitCmd(g), newBundleCmd(g), newCheckCmd(g), newDevCmd(g), newAuditCmd(g), newConformanceCmd(g), newVersionCmd())
	return root
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the agentguard version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			cmd.Println("agentguard", version)
		},
	}
}
