package main

import (
	"crypto"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/agentguard/agentguard/bundles"
)

// The chaos bundle's tools and their declared fallback. delete_branch is
// added to policies/ (high sensitivity, on triage's allowlist) so that a
// cached-mode tool needs a grant, as merge_pr does in local mode.
const (
	toolSearch  = "github/search_issues" // allow (sensitivity low)
	toolCreate  = "github/create_issue"  // cached, allowed by policy
	toolDelete  = "github/delete_branch" // cached, allowed by a grant
	toolMerge   = "github/merge_pr"      // local, allowed by a grant
	toolRefund  = "payments/refund"      // deny, allowed by a task-bound grant
	toolContact = "crm/export_contacts"  // deny, forbidden (other tenant)
)

const chaosFallback = `# hack/chaos-pdp: every mode, each on tools the PDP allows and denies.
rules:
  - resourceType: tool
    actions: [call_tool]
    resources: ["github/search_issues"]
    mode: allow
  - resourceType: tool
    actions: [call_tool]
    resources: ["github/create_issue", "github/delete_branch"]
    mode: cached
    maxStale: %s
  - resourceType: tool
    actions: [call_tool]
    resources: ["github/*"]
    mode: local
  - resourceType: tool
    resources: ["payments/*", "crm/*"]
    mode: deny
`

// chaosBundles are the archives the bundle server can serve.
type chaosBundles struct {
	good     *bundles.Bundle
	goodTGZ  []byte
	tampered []byte
	pubPath  string
}

// buildBundles builds the chaos bundle from policiesDir, signs it with a
// fresh key (public half written to dir) and derives a tampered copy: a
// permit-everything policy and a new revision under the old signature.
func buildBundles(policiesDir, dir string, maxStale time.Duration) (*chaosBundles, error) {
	src, err := bundles.ReadDir(policiesDir, bundles.Limits{})
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{}
	for _, n := range src.Files() {
		if n == bundles.SignaturesFile {
			continue
		}
		if files[n], err = src.ReadFile(n); err != nil {
			return nil, err
		}
	}
	files["pdp/fallback.yaml"] = fmt.Appendf(nil, chaosFallback, maxStale)
	if files["pdp/entities.json"], err = addDeleteBranch(files["pdp/entities.json"]); err != nil {
		return nil, err
	}
	man := src.Manifest
	man.Name, man.Revision = "chaos", "2026.11.27-100"
	if files[bundles.ManifestFile], err = man.Marshal(); err != nil {
		return nil, err
	}
	unsigned, err := bundles.New(files)
	if err != nil {
		return nil, err
	}
	key, err := bundles.GenerateKey(bundles.Ed25519)
	if err != nil {
		return nil, err
	}
	good, err := bundles.Sign(unsigned, key, bundles.SignOptions{})
	if err != nil {
		return nil, err
	}
	out := &chaosBundles{good: good, pubPath: filepath.Join(dir, "bundle.pub.pem")}
	if out.goodTGZ, err = bundles.MarshalArchive(good); err != nil {
		return nil, err
	}
	if err := writePublicKey(out.pubPath, key); err != nil {
		return nil, err
	}
	if out.tampered, err = tamper(good); err != nil {
		return nil, err
	}
	return out, nil
}

// addDeleteBranch adds the github/delete_branch tool and puts it on the
// triage agent's allowlist (so it may ask for a grant on it).
func addDeleteBranch(data []byte) ([]byte, error) {
	var ents []map[string]any
	if err := json.Unmarshal(data, &ents); err != nil {
		return nil, fmt.Errorf("entities.json: %w", err)
	}
	ref := func(t, id string) map[string]any {
		return map[string]any{"__entity": map[string]any{"type": t, "id": id}}
	}
	found := false
	for _, e := range ents {
		uid, _ := e["uid"].(map[string]any)
		if uid["type"] == "Agent" && uid["id"] == "acme-agents/triage" {
			attrs, _ := e["attrs"].(map[string]any)
			tools, _ := attrs["allowedTools"].([]any)
			attrs["allowedTools"] = append(tools, ref("Tool", toolDelete))
			found = true
		}
	}
	if !found {
		return nil, fmt.Errorf("entities.json: no Agent acme-agents/triage")
	}
	ents = append(ents, map[string]any{
		"uid":     map[string]any{"type": "Tool", "id": toolDelete},
		"attrs":   map[string]any{"tenant": ref("Tenant", "acme"), "sensitivity": "high", "readOnly": false},
		"parents": []any{map[string]any{"type": "ToolServer", "id": "acme/github"}},
	})
	return json.MarshalIndent(ents, "", "  ")
}

// tamper returns good with a policy that permits everything added and a
// newer revision, keeping good's signature: what an attacker with write
// access to the bundle server but not the signing key can serve.
func tamper(good *bundles.Bundle) ([]byte, error) {
	files := map[string][]byte{}
	for _, n := range good.Files() {
		data, err := good.ReadFile(n)
		if err != nil {
			return nil, err
		}
		files[n] = data
	}
	files["pdp/tools.cedar"] = append(files["pdp/tools.cedar"], "\n@id(\"chaos-tampered\")\npermit (principal, action, resource);\n"...)
	man := good.Manifest
	man.Revision = "2026.11.27-999"
	var err error
	if files[bundles.ManifestFile], err = man.Marshal(); err != nil {
		return nil, err
	}
	b, err := bundles.New(files)
	if err != nil {
		return nil, err
	}
	return bundles.MarshalArchive(b)
}

func writePublicKey(path string, key crypto.Signer) error {
	pub, err := bundles.MarshalPublicKey(key.Public())
	if err != nil {
		return err
	}
	return os.WriteFile(path, pub, 0o600)
}

// Bundle server modes.
const (
	serveGood int32 = iota
	serve500
	serveTampered
)

// bundleServer serves the chaos bundle over HTTPS; mode switches faults.
type bundleServer struct {
	srv    *httptest.Server
	url    string
	caPath string // the server certificate, for the replicas' SSL_CERT_FILE
	mode   atomic.Int32
	hits   atomic.Int64
}

func startBundleServer(b *chaosBundles, dir string) (*bundleServer, error) {
	s := &bundleServer{}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		body, etag := b.goodTGZ, `"good"`
		switch s.mode.Load() {
		case serve500:
			http.Error(w, "chaos: bundle server failing", http.StatusInternalServerError)
			return
		case serveTampered:
			body, etag = b.tampered, `"tampered"`
		}
		if r.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("ETag", etag)
		w.Header().Set("Content-Type", "application/gzip")
		_, _ = w.Write(body)
	}))
	s.srv.StartTLS()
	s.url = s.srv.URL + "/bundles/chaos.tar.gz"
	s.caPath = filepath.Join(dir, "bundle-server-ca.pem")
	cert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.srv.Certificate().Raw})
	if err := os.WriteFile(s.caPath, cert, 0o600); err != nil {
		s.srv.Close()
		return nil, err
	}
	return s, nil
}

func (s *bundleServer) close() { s.srv.Close() }
