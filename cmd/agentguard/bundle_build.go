package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/agentguard/agentguard/bundles"
	"github.com/agentguard/agentguard/bundles/check"
)

func newBundleInitCmd() *cobra.Command {
	var from, name, revision string
	cmd := &cobra.Command{
		Use:   "init DIR",
		Short: "Scaffold a bundle directory from the default bundle",
		Long: `Copy the default bundle (--from, policies/ in the agentguard repository) into
DIR, which must not exist or be empty, and write a .manifest with --name and
--revision. Any .signatures.json is left out: sign the new bundle yourself.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := args[0]
			if ents, err := os.ReadDir(dir); err == nil && len(ents) > 0 {
				return bundleUsage("%s is not empty", dir)
			} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return bundleUsage("%v", err)
			}
			src, err := bundles.Read(from, bundles.Limits{})
			if err != nil {
				return bundleUsage("%v (set --from to the default bundle, policies/ in the agentguard repository)", err)
			}
			now := time.Now().UTC().Truncate(time.Second)
			m := src.Manifest
			m.Name, m.Revision, m.Created, m.Source = name, revision, &now, nil
			man, err := m.Marshal()
			if err != nil {
				return err
			}
			files := map[string][]byte{}
			for _, n := range src.Files() {
				if n == bundles.SignaturesFile {
					continue
				}
				files[n], _ = src.ReadFile(n)
			}
			files[bundles.ManifestFile] = man
			b, err := bundles.New(files)
			if err != nil {
				return bundleUsage("%v", err)
			}
			if err := bundles.WriteDir(dir, b); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "created bundle %s@%s in %s (%d files)\n", name, revision, dir, len(b.Files()))
			return nil
		},
	}
	cmd.Flags().StringVar(&from, "from", "policies/", "bundle to copy")
	cmd.Flags().StringVar(&name, "name", "my-bundle", "bundle name for .manifest")
	cmd.Flags().StringVar(&revision, "revision", "1", "first revision for .manifest")
	return cmd
}

func newBundleBuildCmd() *cobra.Command {
	var out, key, devKeyDir, revision, sourceRepo, sourceCommit string
	cmd := &cobra.Command{
		Use:   "build DIR -o FILE",
		Short: "Validate a bundle directory and write a reproducible .tar.gz",
		Long: `Validate everything in DIR — the Cedar schema, policies and entities (strict
schema validation), the admission config against its schema, the Rego rules,
and the test files — and write FILE, a .tar.gz that depends only on the
content (sorted entries, fixed times, owners and modes): building the same
directory twice gives the same bytes.

--revision, --source-repository and --source-commit set those .manifest fields
in the archive (as CI does: --revision "$(date +%Y.%m.%d)-$BUILD" --source-commit
"$(git rev-parse HEAD)"); a directory signature is then dropped.

With --key (or --dev-key-dir for local development) the archive is signed in
the same step; otherwise sign it with 'agentguard bundle sign'.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return bundleUsage("-o FILE is required")
			}
			b, err := bundles.Read(args[0], bundles.Limits{})
			if err != nil {
				return bundleUsage("%v", err)
			}
			if revision != "" || sourceRepo != "" || sourceCommit != "" {
				m := b.Manifest
				if revision != "" {
					m.Revision = revision
				}
				if sourceRepo != "" || sourceCommit != "" {
					src := bundles.ManifestSource{}
					if m.Source != nil {
						src = *m.Source
					}
					if sourceRepo != "" {
						src.Repository = sourceRepo
					}
					if sourceCommit != "" {
						src.Commit = sourceCommit
					}
					m.Source = &src
				}
				if b, err = b.WithManifest(m); err != nil {
					return bundleUsage("%v", err)
				}
			}
			if _, err := compileBundle(cmd.Context(), b, cmd.ErrOrStderr()); err != nil {
				return err
			}
			k, err := signingKey(key, devKeyDir, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if k != nil {
				if b, err = bundles.Sign(b, k, bundles.SignOptions{}); err != nil {
					return err
				}
			} else if b.Signed() {
				if err := b.CheckSignedHashes(); err != nil {
					fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s/%s is stale, servers will refuse this archive until it is signed again:\n%v\n",
						args[0], bundles.SignaturesFile, err)
				}
			}
			if err := writeArchiveFile(out, b); err != nil {
				return err
			}
			state := "unsigned"
			switch {
			case b.Signer != "":
				state = "signed by " + b.Signer
			case b.Signed():
				state = "with the directory's .signatures.json"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "built %s@%s -> %s (%d files, %s, %s)\n", b.Name(), b.Revision(), out, len(b.Files()), b.Digest(), state)
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "archive to write (required)")
	cmd.Flags().StringVar(&key, "key", "", "sign with this PEM private key")
	cmd.Flags().StringVar(&devKeyDir, "dev-key-dir", "", "sign with the development key kept in this directory (created on first use)")
	cmd.Flags().StringVar(&revision, "revision", "", "set the revision in .manifest")
	cmd.Flags().StringVar(&sourceRepo, "source-repository", "", "set source.repository in .manifest")
	cmd.Flags().StringVar(&sourceCommit, "source-commit", "", "set source.commit in .manifest")
	return cmd
}

func newBundleTestCmd() *cobra.Command {
	var output string
	var requireCoverage bool
	cmd := &cobra.Command{
		Use:   "test DIR|FILE",
		Short: "Run a bundle's test cases",
		Long: `Validate the bundle, then run every case in tests/: AuthZEN requests against the
Cedar policies (tests/*.json) and Kubernetes objects against the admission
guardrails and Rego rules (tests/admission/*.yaml). Prints a table (or -o json,
-o junit), and the Cedar policies that determine no passing case. Exit status
1 when a case fails or there are none (or, with --require-coverage, when a
policy determines no case), 2 when the bundle is invalid.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "table" && output != "json" && output != "junit" {
				return bundleUsage("--output %q: want table, json or junit", output)
			}
			b, err := bundles.Read(args[0], bundles.Limits{})
			if err != nil {
				return bundleUsage("%v", err)
			}
			c, err := compileBundle(cmd.Context(), b, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			r := check.Run(cmd.Context(), c)
			w := cmd.OutOrStdout()
			switch output {
			case "json":
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				err = enc.Encode(r)
			case "junit":
				err = check.WriteJUnit(w, r)
			default:
				err = check.WriteTable(w, r)
			}
			if err != nil {
				return err
			}
			switch {
			case len(r.Cases) == 0:
				return bundleFailed("%s has no test cases", args[0])
			case r.Failed > 0:
				return bundleFailed("%d of %d cases failed", r.Failed, len(r.Cases))
			case requireCoverage && r.Coverage != nil && len(r.Coverage.Uncovered) > 0:
				return bundleFailed("%d policies determine no passing case: %s", len(r.Coverage.Uncovered), strings.Join(r.Coverage.Uncovered, ", "))
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table, json or junit")
	cmd.Flags().BoolVar(&requireCoverage, "require-coverage", false, "fail when a Cedar policy determines no passing case")
	return cmd
}

func newBundleKeygenCmd() *cobra.Command {
	var outDir, name, alg string
	cmd := &cobra.Command{
		Use:   "keygen --out-dir DIR",
		Short: "Generate a bundle signing key pair (ES256 or Ed25519)",
		Long: `Write DIR/NAME.key.pem (PKCS #8, mode 0600) and DIR/NAME.pub.pem (PKIX). Keep
the private key out of version control (a KMS or CI secret in production);
distribute the public key to servers (--bundle-pubkey).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if outDir == "" {
				return bundleUsage("--out-dir is required")
			}
			k, err := bundles.GenerateKey(bundles.KeyAlgorithm(alg))
			if err != nil {
				return bundleUsage("%v", err)
			}
			priv, err := bundles.MarshalPrivateKey(k)
			if err != nil {
				return err
			}
			pub, err := bundles.MarshalPublicKey(k.Public())
			if err != nil {
				return err
			}
			keyPath := filepath.Join(outDir, name+".key.pem")
			pubPath := filepath.Join(outDir, name+".pub.pem")
			for _, p := range []string{keyPath, pubPath} {
				if _, err := os.Stat(p); err == nil {
					return bundleUsage("%s exists; not overwriting a key", p)
				}
			}
			if err := os.MkdirAll(outDir, 0o700); err != nil {
				return err
			}
			if err := os.WriteFile(keyPath, priv, 0o600); err != nil {
				return err
			}
			if err := os.WriteFile(pubPath, pub, 0o644); err != nil { //nolint:gosec // a public key
				return err
			}
			id, _ := bundles.KeyID(k.Public())
			fmt.Fprintf(cmd.OutOrStdout(), "key %s (%s)\n  private: %s\n  public:  %s\n", id, alg, keyPath, pubPath)
			return nil
		},
	}
	cmd.Flags().StringVar(&outDir, "out-dir", "", "directory for the key files (required)")
	cmd.Flags().StringVar(&name, "name", "bundle-signing", "file name prefix")
	cmd.Flags().StringVar(&alg, "alg", string(bundles.ES256), "ES256 or Ed25519")
	return cmd
}
