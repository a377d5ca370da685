package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/agentguard/agentguard/bundles"
)

func newBundleSignCmd() *cobra.Command {
	var key, devKeyDir, out string
	cmd := &cobra.Command{
		Use:   "sign DIR|FILE --key KEY",
		Short: "Sign a bundle (writes .signatures.json)",
		Long: `Sign every file of the bundle with KEY (PEM; ECDSA P-256 signs ES256, Ed25519
signs EdDSA): .signatures.json gets a JWS over the SHA-256 of every other
file, .manifest included. A directory gets DIR/.signatures.json; an archive is
rewritten (or written to -o FILE). An existing signature is replaced.
The bundle is validated first: only bundles that build are signed.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := bundles.Read(args[0], bundles.Limits{})
			if err != nil {
				return bundleUsage("%v", err)
			}
			k, err := signingKey(key, devKeyDir, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if k == nil {
				return bundleUsage("--key is required")
			}
			if _, err := compileBundle(cmd.Context(), b, cmd.ErrOrStderr()); err != nil {
				return err
			}
			sb, err := bundles.Sign(b, k, bundles.SignOptions{})
			if err != nil {
				return err
			}
			st, err := os.Stat(args[0])
			if err != nil {
				return err
			}
			dest := args[0]
			switch {
			case st.IsDir() && out == "":
				sig, _ := sb.ReadFile(bundles.SignaturesFile)
				dest = filepath.Join(args[0], bundles.SignaturesFile)
				if err := os.WriteFile(dest, sig, 0o644); err != nil { //nolint:gosec // signatures are public
					return err
				}
			default:
				if out != "" {
					dest = out
				}
				if err := writeArchiveFile(dest, sb); err != nil {
					return err
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "signed %s@%s with key %s -> %s\n", sb.Name(), sb.Revision(), sb.Signer, dest)
			return nil
		},
	}
	cmd.Flags().StringVar(&key, "key", "", "PEM private key")
	cmd.Flags().StringVar(&devKeyDir, "dev-key-dir", "", "sign with the development key kept in this directory (created on first use)")
	cmd.Flags().StringVarP(&out, "output", "o", "", "write the signed archive here instead of in place")
	return cmd
}

func newBundleVerifyCmd() *cobra.Command {
	var pubkeys []string
	var minRev string
	cmd := &cobra.Command{
		Use:   "verify DIR|FILE --pubkey KEY",
		Short: "Verify a bundle's signature and file hashes",
		Long: `Check that a trusted key (--pubkey, repeatable) signed the bundle, that every
file is signed with a matching SHA-256 and that every signed file is present.
Each mismatch names its file. With --min-revision, older revisions are
refused. Exit status 1 when verification fails.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := bundles.Read(args[0], bundles.Limits{})
			if err != nil {
				return bundleUsage("%v", err)
			}
			vb, err := verifyBundle(b, pubkeys, minRev)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "verified %s@%s: %d files signed by key %s\n", vb.Name(), vb.Revision(), len(vb.Files())-1, vb.Signer)
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&pubkeys, "pubkey", nil, "trusted PEM public key (repeatable)")
	cmd.Flags().StringVar(&minRev, "min-revision", "", "refuse revisions older than this")
	return cmd
}
