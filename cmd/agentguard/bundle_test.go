package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"

	"github.com/agentguard/agentguard/bundles"
)

// runCLI runs agentguard in-process with args and returns its output.
func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&out)
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

func exitCode(err error) int {
	switch {
	case err == nil:
		return 0
	case isExit(err, 1):
		return 1
	case isExit(err, 2):
		return 2
	}
	return -1
}

// TestBundleTestDefaultPolicies is `agentguard bundle test policies/`,
// in every output format.
func TestBundleTestDefaultPolicies(t *testing.T) {
	out, err := runCLI(t, "bundle", "test", "../../policies")
	if err != nil {
		t.Fatalf("bundle test policies/: %v\n%s", err, out)
	}
	if !strings.Contains(out, "0 failed") {
		t.Errorf("table output:\n%s", out)
	}
	out, err = runCLI(t, "bundle", "test", "../../policies", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Passed, Failed int
		Cases          []struct{ Passed bool }
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("json output: %v\n%s", err, out)
	}
	if rep.Failed != 0 || rep.Passed == 0 || len(rep.Cases) != rep.Passed {
		t.Errorf("json report %+v", rep)
	}
	out, err = runCLI(t, "bundle", "test", "../../policies", "-o", "junit")
	if err != nil {
		t.Fatal(err)
	}
	var ju struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
	}
	if err := xml.Unmarshal([]byte(out), &ju); err != nil || ju.Tests != rep.Passed || ju.Failures != 0 {
		t.Errorf("junit output (%v): %+v\n%s", err, ju, out)
	}
}

func TestBundleLifecycle(t *testing.T) {
	tmp := t.TempDir()
	keys := filepath.Join(tmp, "keys")
	must := func(args ...string) string {
		t.Helper()
		out, err := runCLI(t, args...)
		if err != nil {
			t.Fatalf("agentguard %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	must("bundle", "keygen", "--out-dir", keys)
	must("bundle", "keygen", "--out-dir", keys, "--name", "other", "--alg", "Ed25519")
	priv, pub := filepath.Join(keys, "bundle-signing.key.pem"), filepath.Join(keys, "bundle-signing.pub.pem")
	otherPub := filepath.Join(keys, "other.pub.pem")
	if st, err := os.Stat(priv); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("private key file: %v %v", st, err)
	}
	if _, err := runCLI(t, "bundle", "keygen", "--out-dir", keys); exitCode(err) != 2 {
		t.Errorf("keygen over an existing key: %v, want exit 2", err)
	}

	// init scaffolds a bundle that tests green.
	dir := filepath.Join(tmp, "my-bundle")
	must("bundle", "init", dir, "--from", "../../policies", "--name", "acme", "--revision", "2026.11.27-1")
	must("bundle", "test", dir)
	if _, err := runCLI(t, "bundle", "init", dir, "--from", "../../policies"); exitCode(err) != 2 {
		t.Errorf("init into a non-empty directory: %v, want exit 2", err)
	}

	// build is reproducible.
	a, b := filepath.Join(tmp, "a.tar.gz"), filepath.Join(tmp, "b.tar.gz")
	must("bundle", "build", dir, "-o", a)
	must("bundle", "build", dir, "-o", b)
	da, _ := os.ReadFile(a)
	db, _ := os.ReadFile(b)
	if !bytes.Equal(da, db) || len(da) == 0 {
		t.Fatal("two builds of the same directory differ")
	}

	// sign, verify, and the ways verification fails.
	if _, err := runCLI(t, "bundle", "verify", a, "--pubkey", pub); exitCode(err) != 1 {
		t.Errorf("verify unsigned: %v, want exit 1", err)
	}
	must("bundle", "sign", a, "--key", priv)
	out := must("bundle", "verify", a, "--pubkey", pub)
	id := keyIDOf(t, pub)
	if !strings.Contains(out, id) {
		t.Errorf("verify output does not name the key %s:\n%s", id, out)
	}
	if _, err := runCLI(t, "bundle", "verify", a, "--pubkey", otherPub); exitCode(err) != 1 {
		t.Errorf("verify with the wrong key: %v, want exit 1", err)
	}
	if _, err := runCLI(t, "bundle", "verify", a, "--pubkey", pub, "--min-revision", "2026.11.28-1"); exitCode(err) != 1 {
		t.Errorf("verify an older revision than the minimum: %v, want exit 1", err)
	}

	// A signed directory: an edited file is named.
	must("bundle", "sign", dir, "--key", priv)
	must("bundle", "verify", dir, "--pubkey", pub)
	if err := os.WriteFile(filepath.Join(dir, "pdp", "tools.cedar"), []byte("// emptied\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := runCLI(t, "bundle", "verify", dir, "--pubkey", pub)
	if exitCode(err) != 1 || !strings.Contains(err.Error(), "pdp/tools.cedar") {
		t.Errorf("verify an edited directory: %v, want exit 1 naming pdp/tools.cedar", err)
	}
	out = must("bundle", "build", dir, "-o", filepath.Join(tmp, "stale.tar.gz"))
	if !strings.Contains(out, "stale") || !strings.Contains(out, "pdp/tools.cedar") {
		t.Errorf("build with a stale signature does not warn:\n%s", out)
	}

	// inspect shows the signer, verified with --pubkey.
	out = must("bundle", "inspect", a, "-o", "json", "--pubkey", pub)
	var in inspection
	if err := json.Unmarshal([]byte(out), &in); err != nil {
		t.Fatalf("inspect json: %v\n%s", err, out)
	}
	if in.Name != "acme" || in.Revision != "2026.11.27-1" || in.Signer != id || !in.Verified || len(in.Files) == 0 {
		t.Errorf("inspect = %+v", in)
	}

	// push and pull through an in-process OCI registry.
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	ref := "oci://" + strings.TrimPrefix(srv.URL, "http://") + "/policies/acme:v1"
	if _, err := runCLI(t, "bundle", "push", b, ref); exitCode(err) != 2 {
		t.Errorf("push unsigned: %v, want exit 2", err)
	}
	out = must("bundle", "push", a, ref)
	if !strings.Contains(out, "digest: sha256:") {
		t.Errorf("push output:\n%s", out)
	}
	pulled := filepath.Join(tmp, "pulled.tar.gz")
	must("bundle", "pull", ref, "-o", pulled, "--pubkey", pub)
	dp, _ := os.ReadFile(pulled)
	da, _ = os.ReadFile(a)
	if !bytes.Equal(dp, da) {
		t.Error("pulled archive differs from the pushed one")
	}
	if _, err := runCLI(t, "bundle", "pull", ref, "-o", pulled, "--pubkey", otherPub); exitCode(err) != 1 {
		t.Errorf("pull with the wrong key: %v, want exit 1", err)
	}
	unpacked := filepath.Join(tmp, "unpacked") + "/"
	must("bundle", "pull", ref, "-o", unpacked)
	must("bundle", "verify", unpacked, "--pubkey", pub)
}

func TestBundleBuildAndTestFailures(t *testing.T) {
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "b")
	if out, err := runCLI(t, "bundle", "init", dir, "--from", "../../policies"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	// A failing case: exit 1, the case named.
	cases := `{"cases":[{"name":"expects allow for an unknown agent","request":{"subject":{"type":"agent","id":"nobody/x"},"action":{"name":"call_tool"},"resource":{"type":"tool","id":"github/create_issue"}},"decision":true}]}`
	if err := os.WriteFile(filepath.Join(dir, "tests", "authz.json"), []byte(cases), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := runCLI(t, "bundle", "test", dir)
	if exitCode(err) != 1 || !strings.Contains(out, "FAIL tests/authz.json: expects allow for an unknown agent") {
		t.Errorf("failing case: %v, want exit 1 and the case named\n%s", err, out)
	}
	// Publishing a bundle with a failing case is refused.
	keys := filepath.Join(tmp, "keys")
	if out, err := runCLI(t, "bundle", "keygen", "--out-dir", keys); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if out, err := runCLI(t, "bundle", "sign", dir, "--key", filepath.Join(keys, "bundle-signing.key.pem")); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	ref := "oci://" + strings.TrimPrefix(srv.URL, "http://") + "/policies/b:v1"
	if _, err := runCLI(t, "bundle", "push", dir, ref); exitCode(err) != 1 || !strings.Contains(err.Error(), "test cases failed") {
		t.Errorf("push with a failing case: %v, want exit 1", err)
	}
	if out, err := runCLI(t, "bundle", "push", dir, ref, "--skip-tests"); err != nil {
		t.Errorf("push --skip-tests: %v\n%s", err, out)
	}

	// An invalid policy: build refuses with exit 2, naming the file.
	if err := os.WriteFile(filepath.Join(dir, "pdp", "tools.cedar"), []byte("@id(\"x\")\npermit(principal is Nope, action, resource);\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = runCLI(t, "bundle", "build", dir, "-o", filepath.Join(tmp, "out.tar.gz"))
	if exitCode(err) != 2 || !strings.Contains(err.Error(), "pdp/tools.cedar") {
		t.Errorf("build of an invalid bundle: %v, want exit 2 naming pdp/tools.cedar", err)
	}
	if _, err := os.Stat(filepath.Join(tmp, "out.tar.gz")); err == nil {
		t.Error("an invalid bundle was written")
	}
	if _, err := runCLI(t, "bundle", "test", dir, "-o", "yaml"); exitCode(err) != 2 {
		t.Errorf("unknown output format: %v, want exit 2", err)
	}
}

func TestBundleTestRequireCoverage(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "b")
	if out, err := runCLI(t, "bundle", "init", dir, "--from", "../../policies"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	cases := `{"cases":[{"name":"allowlisted","request":{"subject":{"type":"agent","id":"acme-agents/triage"},"action":{"name":"call_tool"},"resource":{"type":"tool","id":"github/create_issue"}},"decision":true,"policies":["allow-allowlisted-tool-in-own-tenant"]}]}`
	if err := os.WriteFile(filepath.Join(dir, "tests", "authz.json"), []byte(cases), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := runCLI(t, "bundle", "test", dir)
	if err != nil || !strings.Contains(out, "forbid-cross-tenant") {
		t.Errorf("without --require-coverage: %v, want success listing forbid-cross-tenant as uncovered\n%s", err, out)
	}
	if _, err := runCLI(t, "bundle", "test", dir, "--require-coverage"); exitCode(err) != 1 || !strings.Contains(err.Error(), "forbid-cross-tenant") {
		t.Errorf("with --require-coverage: %v, want exit 1 naming forbid-cross-tenant", err)
	}
}

// TestBundleDevKey is the `make run` flow: build and sign with a
// development key generated on first use.
func TestBundleDevKey(t *testing.T) {
	tmp := t.TempDir()
	keyDir := filepath.Join(tmp, "dev-keys")
	out := filepath.Join(tmp, "dev-bundle.tar.gz")
	for range 2 {
		if o, err := runCLI(t, "bundle", "build", "../../policies", "-o", out, "--dev-key-dir", keyDir); err != nil {
			t.Fatalf("%v\n%s", err, o)
		}
	}
	if o, err := runCLI(t, "bundle", "verify", out, "--pubkey", filepath.Join(keyDir, bundles.DevPubKeyFile)); err != nil {
		t.Fatalf("%v\n%s", err, o)
	}
	// CI stamps the revision and commit at build time.
	if o, err := runCLI(t, "bundle", "build", "../../policies", "-o", out, "--dev-key-dir", keyDir,
		"--revision", "2026.11.27-42", "--source-commit", "deadbeef"); err != nil {
		t.Fatalf("%v\n%s", err, o)
	}
	b, err := bundles.Read(out, bundles.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if b.Revision() != "2026.11.27-42" || b.Manifest.Source == nil || b.Manifest.Source.Commit != "deadbeef" ||
		b.Manifest.Source.Repository != "https://github.com/agentguard/agentguard" {
		t.Errorf("stamped manifest = %+v", b.Manifest)
	}
	if o, err := runCLI(t, "bundle", "verify", out, "--pubkey", filepath.Join(keyDir, bundles.DevPubKeyFile)); err != nil {
		t.Fatalf("stamped bundle: %v\n%s", err, o)
	}
	if _, err := runCLI(t, "bundle", "build", "../../policies", "-o", out, "--revision", "has space"); exitCode(err) != 2 {
		t.Errorf("invalid --revision: %v, want exit 2", err)
	}
}

func keyIDOf(t *testing.T, pubPath string) string {
	t.Helper()
	k, err := bundles.ReadPublicKeyFile(pubPath)
	if err != nil {
		t.Fatal(err)
	}
	id, err := bundles.KeyID(k)
	if err != nil {
		t.Fatal(err)
	}
	return id
}
