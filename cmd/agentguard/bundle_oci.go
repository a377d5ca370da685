package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/agentguard/agentguard/bundles"
	"github.com/agentguard/agentguard/bundles/check"
)

func sha256Hex(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

func newBundlePushCmd(o *bundleCmdOptions) *cobra.Command {
	var allowUnsigned, skipTests bool
	cmd := &cobra.Command{
		Use:   "push DIR|FILE oci://REGISTRY/REPOSITORY:TAG",
		Short: "Push a bundle to an OCI registry as an artifact",
		Long: `Push the bundle as an OCI artifact: an image manifest with artifactType
` + bundles.ArtifactType + `, config ` + bundles.ConfigMediaType + ` and the
reproducible archive as its one layer (` + bundles.LayerMediaType + `).
Credentials come from the docker config (docker login). Unsigned bundles are
refused unless --allow-unsigned, and so are bundles whose test cases fail
(or that have none) unless --skip-tests. Prints the manifest digest, for pinning
servers to oci://...@sha256:....`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref, ok := strings.CutPrefix(args[1], "oci://")
			if !ok {
				return bundleUsage("%q: want oci://registry/repository:tag", args[1])
			}
			b, err := bundles.Read(args[0], bundles.Limits{})
			if err != nil {
				return bundleUsage("%v", err)
			}
			if !b.Signed() && !allowUnsigned {
				return bundleUsage("%s is not signed: run 'agentguard bundle sign' first (or --allow-unsigned)", args[0])
			}
			if !skipTests {
				// The publish step refuses a bundle whose own tests fail
				// (AG-GOV-005).
				c, err := compileBundle(cmd.Context(), b, cmd.ErrOrStderr())
				if err != nil {
					return err
				}
				r := check.Run(cmd.Context(), c)
				if !r.OK() {
					_ = check.WriteTable(cmd.ErrOrStderr(), r)
					return bundleFailed("not pushing %s@%s: %d of %d test cases failed", b.Name(), b.Revision(), r.Failed, len(r.Cases))
				}
			}
			digest, err := bundles.Push(cmd.Context(), ref, b, o.sourceOptions())
			if err != nil {
				return bundleFailed("%v", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "pushed %s@%s to oci://%s\ndigest: %s\n", b.Name(), b.Revision(), ref, digest)
			return nil
		},
	}
	cmd.Flags().BoolVar(&allowUnsigned, "allow-unsigned", false, "push a bundle without .signatures.json")
	cmd.Flags().BoolVar(&skipTests, "skip-tests", false, "push without running the bundle's test cases")
	return cmd
}

func newBundlePullCmd(o *bundleCmdOptions) *cobra.Command {
	var out, minRev string
	var pubkeys []string
	cmd := &cobra.Command{
		Use:   "pull oci://REGISTRY/REPOSITORY[:TAG|@DIGEST] -o FILE",
		Short: "Pull a bundle from an OCI registry (or https://) into a .tar.gz",
		Long: `Fetch a bundle artifact and write it as a .tar.gz (or, when -o names an
existing directory or ends in /, unpack it there). With --pubkey the bundle is
verified before anything is written.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return bundleUsage("-o is required")
			}
			if !strings.HasPrefix(args[0], "oci://") && !strings.HasPrefix(args[0], "https://") && !strings.HasPrefix(args[0], "http://") {
				return bundleUsage("%q: want oci://... or https://...", args[0])
			}
			b, err := readBundle(cmd.Context(), args[0], o)
			if err != nil {
				return err
			}
			verified := ""
			if len(pubkeys) > 0 {
				if b, err = verifyBundle(b, pubkeys, minRev); err != nil {
					return err
				}
				verified = ", verified, signed by " + b.Signer
			}
			if strings.HasSuffix(out, "/") || isDir(out) {
				err = bundles.WriteDir(out, b)
			} else {
				err = writeArchiveFile(out, b)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "pulled %s@%s -> %s (%s%s)\n", b.Name(), b.Revision(), out, b.Digest(), verified)
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "archive to write, or directory to unpack into (required)")
	cmd.Flags().StringArrayVar(&pubkeys, "pubkey", nil, "verify with this PEM public key (repeatable)")
	cmd.Flags().StringVar(&minRev, "min-revision", "", "with --pubkey, refuse revisions older than this")
	return cmd
}
