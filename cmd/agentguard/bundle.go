package main

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/spf13/cobra"

	"github.com/agentguard/agentguard/bundles"
	"github.com/agentguard/agentguard/bundles/check"
)

// bundleCmdOptions are flags shared by the bundle subcommands.
type bundleCmdOptions struct {
	insecureHTTP bool
}

func newBundleCmd(_ *globalFlags) *cobra.Command {
	o := &bundleCmdOptions{}
	cmd := &cobra.Command{
		Use:   "bundle",
		Short: "Build, test, sign, verify, inspect and distribute policy bundles",
		Long: `Work with agentguard policy bundles: a directory or a reproducible .tar.gz with
.manifest, admission/ (config.yaml, *.rego), pdp/ (Cedar schema, policies,
entities, mapping), tests/ and .signatures.json. See docs/bundles.md.

Typical flow:
  agentguard bundle init my-bundle/
  agentguard bundle test my-bundle/
  agentguard bundle build my-bundle/ -o bundle.tar.gz
  agentguard bundle sign bundle.tar.gz --key signing.key.pem
  agentguard bundle push bundle.tar.gz oci://registry.example/policies/prod:v1

Exit status: 0 on success, 1 when tests fail or verification fails, 2 on bad
input.`,
	}
	cmd.PersistentFlags().BoolVar(&o.insecureHTTP, "insecure-http", false, "allow http:// URLs and plain-HTTP registries (local testing only)")
	cmd.AddCommand(
		newBundleInitCmd(),
		newBundleBuildCmd(),
		newBundleTestCmd(),
		newBundleSignCmd(),
		newBundleVerifyCmd(),
		newBundleInspectCmd(o),
		newBundlePushCmd(o),
		newBundlePullCmd(o),
		newBundleKeygenCmd(),
	)
	return cmd
}

// bundleUsage is a bad-input error (exit 2); bundleFailed a failed check
// (exit 1).
func bundleUsage(format string, args ...any) error {
	return &exitError{code: 2, msg: fmt.Sprintf(format, args...)}
}

func bundleFailed(format string, args ...any) error {
	return &exitError{code: 1, msg: fmt.Sprintf(format, args...)}
}

func (o *bundleCmdOptions) sourceOptions() bundles.SourceOptions {
	return bundles.SourceOptions{Keychain: authn.DefaultKeychain, InsecureHTTP: o.insecureHTTP}
}

// readBundle reads a directory, a .tar.gz, or (with remote) an https:// or
// oci:// bundle.
func readBundle(ctx context.Context, ref string, remote *bundleCmdOptions) (*bundles.Bundle, error) {
	if remote != nil && (strings.HasPrefix(ref, "oci://") || strings.HasPrefix(ref, "https://") || strings.HasPrefix(ref, "http://")) {
		src, err := bundles.OpenSource(ref, remote.sourceOptions())
		if err != nil {
			return nil, bundleUsage("%v", err)
		}
		f, err := src.Fetch(ctx, "")
		if err != nil {
			return nil, bundleFailed("%v", err)
		}
		return f.Bundle, nil
	}
	b, err := bundles.Read(ref, bundles.Limits{})
	if err != nil {
		return nil, bundleUsage("%v", err)
	}
	return b, nil
}

// compileBundle validates b and prints warnings to w.
func compileBundle(ctx context.Context, b *bundles.Bundle, w io.Writer) (*check.Compiled, error) {
	c, err := check.Compile(ctx, b, check.Options{})
	if err != nil {
		return nil, bundleUsage("%v", err)
	}
	for _, warn := range c.Warnings {
		fmt.Fprintln(w, "warning:", warn)
	}
	return c, nil
}

// writeArchiveFile writes b as a reproducible archive through a temporary
// file and a rename, so that a watched file never appears half written.
func writeArchiveFile(path string, b *bundles.Bundle) error {
	data, err := bundles.MarshalArchive(b)
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".bundle-*.tar.gz")
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		_ = os.Remove(f.Name())
		return err
	}
	if err := f.Close(); err != nil {
		_ = os.Remove(f.Name())
		return err
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil { //nolint:gosec // bundles are public artifacts
		_ = os.Remove(f.Name())
		return err
	}
	return os.Rename(f.Name(), path)
}

// readPublicKeys reads every --pubkey file.
func readPublicKeys(paths []string) ([]crypto.PublicKey, error) {
	if len(paths) == 0 {
		return nil, bundleUsage("--pubkey is required")
	}
	var keys []crypto.PublicKey
	for _, p := range paths {
		k, err := bundles.ReadPublicKeyFile(p)
		if err != nil {
			return nil, bundleUsage("%v", err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// signingKey reads --key, or the development key from --dev-key-dir
// (generated there on first use).
func signingKey(keyPath, devDir string, w io.Writer) (crypto.Signer, error) {
	switch {
	case keyPath != "" && devDir != "":
		return nil, bundleUsage("give --key or --dev-key-dir, not both")
	case keyPath != "":
		k, err := bundles.ReadPrivateKeyFile(keyPath)
		if err != nil {
			return nil, bundleUsage("%v", err)
		}
		return k, nil
	case devDir != "":
		k, pub, err := bundles.EnsureDevKey(devDir)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(w, "signing with the development key; verify with --pubkey %s (never use it in production)\n", pub)
		return k, nil
	}
	return nil, nil
}

func verifyBundle(b *bundles.Bundle, pubkeys []string, minRev string) (*bundles.Bundle, error) {
	keys, err := readPublicKeys(pubkeys)
	if err != nil {
		return nil, err
	}
	v, err := bundles.NewVerifier(bundles.VerifyOptions{PublicKeys: keys, MinRevision: minRev})
	if err != nil {
		return nil, bundleUsage("%v", err)
	}
	vb, err := v.Verify(b)
	if err != nil {
		return nil, bundleFailed("%s@%s: %v", b.Name(), b.Revision(), err)
	}
	return vb, nil
}

func isExit(err error, code int) bool {
	var ee *exitError
	return errors.As(err, &ee) && ee.code == code
}

func isDir(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.IsDir()
}
