package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/agentguard/agentguard/pdp"
	"github.com/agentguard/agentguard/pdp/authn"
)

func newDevCmd(_ *globalFlags) *cobra.Command {
	dev := &cobra.Command{
		Use:   "dev",
		Short: "Helpers for running agentguard locally",
	}
	var bundle, out string
	var force bool
	tokens := &cobra.Command{
		Use:   "tokens --out DIR",
		Short: "Mint a bearer token for every agent and user of a bundle (standalone PDP authentication)",
		Long: `Mint one bearer token for every Agent and User entity in the bundle's
pdp/entities.json. Each token is written to DIR/<type>_<id>.token (mode 0600) and
DIR/tokens.yaml gets its SHA-256 and principal: the file for
'agentguard serve --auth-token-file'. Only hashes are kept in tokens.yaml.
An existing tokens.yaml is left alone unless --force.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return devTokens(cmd, bundle, out, force)
		},
	}
	tokens.Flags().StringVar(&bundle, "bundle", "policies/", "bundle directory")
	tokens.Flags().StringVar(&out, "out", "", "output directory (required)")
	tokens.Flags().BoolVar(&force, "force", false, "mint new tokens even if DIR/tokens.yaml exists")
	_ = tokens.MarkFlagRequired("out")
	dev.AddCommand(tokens)
	return dev
}

var unsafeFileChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

func devTokens(cmd *cobra.Command, bundle, out string, force bool) error {
	index := filepath.Join(out, "tokens.yaml")
	if _, err := os.Stat(index); err == nil && !force {
		fmt.Fprintf(cmd.OutOrStdout(), "dev tokens already in %s (use --force to mint new ones)\n", out)
		return nil
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	eng, err := pdp.Load(bundle, pdp.Options{})
	if err != nil {
		return err
	}
	src, err := pdp.ReadDir(bundle)
	if err != nil {
		return err
	}
	if src.Entities == nil {
		return fmt.Errorf("bundle %s has no pdp/entities.json", bundle)
	}
	var ents []struct {
		UID struct {
			Type string `json:"type"`
			ID   string `json:"id"`
		} `json:"uid"`
	}
	if err := yaml.Unmarshal(src.Entities.Data, &ents); err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o700); err != nil {
		return err
	}
	var entries []authn.StaticTokenEntry
	var files []string
	for _, e := range ents {
		if e.UID.Type != "Agent" && e.UID.Type != "User" {
			continue
		}
		tok, err := authn.NewToken()
		if err != nil {
			return err
		}
		name := strings.ToLower(e.UID.Type) + "_" + unsafeFileChars.ReplaceAllString(e.UID.ID, "_") + ".token"
		if err := os.WriteFile(filepath.Join(out, name), []byte(tok+"\n"), 0o600); err != nil {
			return err
		}
		files = append(files, name)
		entries = append(entries, authn.StaticTokenEntry{
			SHA256:      authn.HashToken(tok),
			Principal:   authn.StaticPrincipal{Type: e.UID.Type, ID: e.UID.ID},
			Description: "dev token minted by agentguard dev tokens for bundle revision " + eng.Revision(),
		})
	}
	data, err := yaml.Marshal(entries)
	if err != nil {
		return err
	}
	if err := os.WriteFile(index, data, 0o600); err != nil {
		return err
	}
	slices.Sort(files)
	fmt.Fprintf(cmd.OutOrStdout(), "minted %d dev tokens in %s: %s\n", len(files), out, strings.Join(files, ", "))
	return nil
}
