package main

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/agentguard/agentguard/bundles"
)

// inspection is the JSON output of `bundle inspect`.
type inspection struct {
	Name                 string                  `json:"name"`
	Revision             string                  `json:"revision"`
	Created              string                  `json:"created,omitempty"`
	Roots                []string                `json:"roots,omitempty"`
	MinAgentguardVersion string                  `json:"minAgentguardVersion,omitempty"`
	Source               *bundles.ManifestSource `json:"source,omitempty"`
	Digest               string                  `json:"digest"`
	Signed               bool                    `json:"signed"`
	// Signer is the key ID; Verified says whether a --pubkey checked it.
	Signer   string          `json:"signer,omitempty"`
	SignedAt int64           `json:"signedAt,omitempty"`
	Verified bool            `json:"verified"`
	Files    []inspectedFile `json:"files"`
}

type inspectedFile struct {
	Name   string `json:"name"`
	Size   int    `json:"size"`
	SHA256 string `json:"sha256"`
}

func newBundleInspectCmd(o *bundleCmdOptions) *cobra.Command {
	var output string
	var pubkeys []string
	cmd := &cobra.Command{
		Use:   "inspect DIR|FILE|https://...|oci://...",
		Short: "Show a bundle's manifest, files, hashes and signer",
		Long: `Show the manifest, digest, every file with its size and SHA-256, and the signer's
key ID. Without --pubkey the signer is read from the signature without
checking it ("unverified"); with --pubkey it is verified first.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "table" && output != "json" {
				return bundleUsage("--output %q: want table or json", output)
			}
			b, err := readBundle(cmd.Context(), args[0], o)
			if err != nil {
				return err
			}
			in := inspection{
				Name: b.Name(), Revision: b.Revision(), Roots: b.Manifest.Roots,
				MinAgentguardVersion: b.Manifest.MinAgentguardVersion, Source: b.Manifest.Source,
				Digest: b.Digest(), Signed: b.Signed(), Files: []inspectedFile{},
			}
			if c := b.Manifest.Created; c != nil {
				in.Created = c.UTC().Format("2006-01-02T15:04:05Z")
			}
			if len(pubkeys) > 0 {
				vb, err := verifyBundle(b, pubkeys, "")
				if err != nil {
					return err
				}
				in.Signer, in.Verified = vb.Signer, true
			}
			if p, err := b.UnverifiedSignature(); err == nil {
				in.SignedAt = p.IssuedAt
				if in.Signer == "" {
					in.Signer = p.KeyID
				}
			}
			for _, n := range b.Files() {
				data, _ := b.ReadFile(n)
				in.Files = append(in.Files, inspectedFile{Name: n, Size: len(data), SHA256: sha256Hex(data)})
			}
			w := cmd.OutOrStdout()
			if output == "json" {
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				return enc.Encode(in)
			}
			signer := "unsigned"
			switch {
			case in.Verified:
				signer = in.Signer + " (verified)"
			case in.Signer != "":
				signer = in.Signer + " (unverified: pass --pubkey to check)"
			case in.Signed:
				signer = "malformed signature"
			}
			fmt.Fprintf(w, "name:      %s\nrevision:  %s\n", in.Name, in.Revision)
			if in.Created != "" {
				fmt.Fprintf(w, "created:   %s\n", in.Created)
			}
			if in.Source != nil {
				fmt.Fprintf(w, "source:    %s\n", strings.TrimSpace(in.Source.Repository+" "+in.Source.Commit))
			}
			fmt.Fprintf(w, "digest:    %s\nsigner:    %s\nfiles:\n", in.Digest, signer)
			for _, f := range in.Files {
				fmt.Fprintf(w, "  %s  %8d  %s\n", f.SHA256, f.Size, f.Name)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	cmd.Flags().StringArrayVar(&pubkeys, "pubkey", nil, "verify the signature with this PEM public key (repeatable)")
	return cmd
}
