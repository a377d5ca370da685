package authn

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cedar-policy/cedar-go/types"
	"github.com/google/go-cmp/cmp"
	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// testCA issues certificates for tests; keys are generated per test run.
type testCA struct {
	cert *x509.Certificate
	key  crypto.Signer
}

var serial atomic.Int64

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newCA(t testing.TB, td string) *testCA {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial.Add(1)),
		Subject:               pkix.Name{CommonName: "test CA " + td},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		URIs:                  []*url.URL{{Scheme: "spiffe", Host: td}},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key}
}

// issue returns a leaf certificate for the given URIs (and 127.0.0.1).
func (ca *testCA) issue(t testing.TB, notBefore, notAfter time.Time, uris ...string) tls.Certificate {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial.Add(1)),
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	for _, u := range uris {
		parsed, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		tmpl.URIs = append(tmpl.URIs, parsed)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

func (ca *testCA) svid(t testing.TB, id string) tls.Certificate {
	return ca.issue(t, time.Now().Add(-time.Minute), time.Now().Add(time.Hour), id)
}

// spiffeServer is an httptest TLS server configured by ServerTLSConfig that
// answers with the caller's Identity as JSON.
type spiffeServer struct {
	srv    *httptest.Server
	rootCA *x509.CertPool
}

func startSPIFFEServer(t *testing.T, td spiffeid.TrustDomain, bundle *x509bundle.Bundle, optional bool, extra ...Authenticator) *spiffeServer {
	t.Helper()
	serverCA := newCA(t, "server.test")
	serverCert := serverCA.issue(t, time.Now().Add(-time.Minute), time.Now().Add(time.Hour))
	cfg, err := ServerTLSConfig(TLSOptions{TrustDomain: td, Bundle: bundle, Certificate: &serverCert, ClientCertOptional: optional})
	if err != nil {
		t.Fatal(err)
	}
	sp, err := NewSPIFFE(SPIFFEOptions{TrustDomain: td, Bundle: bundle})
	if err != nil {
		t.Fatal(err)
	}
	h := Middleware(Chain(append([]Authenticator{sp}, extra...)...), HTTPOptions{})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := FromContext(r.Context())
		_ = json.NewEncoder(w).Encode(id)
	}))
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = cfg
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are expected
	srv.StartTLS()
	t.Cleanup(srv.Close)
	pool := x509.NewCertPool()
	pool.AddCert(serverCA.cert)
	return &spiffeServer{srv: srv, rootCA: pool}
}

// call sends a request with the given client certificate (none if nil) and
// returns the status and decoded identity.
func (s *spiffeServer) call(t *testing.T, cert *tls.Certificate, bearer string) (int, *Identity, error) {
	t.Helper()
	cfg := &tls.Config{RootCAs: s.rootCA, MinVersion: tls.VersionTLS12}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
	defer c.CloseIdleConnections()
	req, _ := http.NewRequest(http.MethodPost, s.srv.URL+"/access/v1/evaluation", nil)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, nil, nil
	}
	var id Identity
	if err := json.NewDecoder(resp.Body).Decode(&id); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, &id, nil
}

func TestSPIFFEOverMTLS(t *testing.T) {
	t.Parallel()
	td := spiffeid.RequireTrustDomainFromString("example.org")
	ca := newCA(t, "example.org")
	bundle := x509bundle.FromX509Authorities(td, []*x509.Certificate{ca.cert})
	foreignCA := newCA(t, "evil.org")
	rogueCA := newCA(t, "example.org") // claims the trust domain, not in the bundle

	triage := ca.svid(t, "spiffe://example.org/ns/acme-agents/sa/triage")
	gateway := ca.svid(t, "spiffe://example.org/gateway/mcp")
	expired := ca.issue(t, time.Now().Add(-2*time.Hour), time.Now().Add(-time.Hour), "spiffe://example.org/ns/acme-agents/sa/triage")
	notYet := ca.issue(t, time.Now().Add(time.Hour), time.Now().Add(2*time.Hour), "spiffe://example.org/ns/acme-agents/sa/triage")
	foreign := foreignCA.svid(t, "spiffe://evil.org/ns/acme-agents/sa/triage")
	rogue := rogueCA.svid(t, "spiffe://example.org/ns/acme-agents/sa/triage")
	twoIDs := ca.issue(t, time.Now().Add(-time.Minute), time.Now().Add(time.Hour), "spiffe://example.org/a", "spiffe://example.org/b")
	noID := ca.issue(t, time.Now().Add(-time.Minute), time.Now().Add(time.Hour))
	// A leaf of the right CA but for another trust domain.
	otherTD := ca.svid(t, "spiffe://other.org/ns/acme-agents/sa/triage")

	t.Run("required", func(t *testing.T) {
		t.Parallel()
		s := startSPIFFEServer(t, td, bundle, false)
		status, id, err := s.call(t, &triage, "")
		if err != nil || status != http.StatusOK {
			t.Fatalf("valid SVID: %d, %v", status, err)
		}
		want := &Identity{
			Kind: KindSPIFFE, Principal: AgentPrincipal("acme-agents", "triage"),
			Namespace: "acme-agents", ServiceAccount: "triage",
			SPIFFEID: "spiffe://example.org/ns/acme-agents/sa/triage", Username: "spiffe://example.org/ns/acme-agents/sa/triage",
			CredentialID: triage.Leaf.SerialNumber.Text(16), IssuedAt: triage.Leaf.NotBefore, Expiry: triage.Leaf.NotAfter,
		}
		if diff := cmp.Diff(want, id, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); diff != "" {
			t.Errorf("identity (-want +got):\n%s", diff)
		}
		status, id, err = s.call(t, &gateway, "")
		if err != nil || status != http.StatusOK || id.Principal != types.NewEntityUID("Agent", "spiffe://example.org/gateway/mcp") || id.Namespace != "" {
			t.Errorf("gateway SVID: %d, %+v, %v", status, id, err)
		}
		for name, cert := range map[string]*tls.Certificate{
			"no certificate": nil, "expired": &expired, "not yet valid": &notYet, "foreign trust domain": &foreign,
			"rogue CA": &rogue, "two URI SANs": &twoIDs, "no URI SAN": &noID, "other trust domain, right CA": &otherTD,
		} {
			if status, id, err := s.call(t, cert, ""); err == nil {
				t.Errorf("%s: handshake succeeded: %d, %+v", name, status, id)
			}
		}
	})

	t.Run("optional", func(t *testing.T) {
		t.Parallel()
		static, err := ParseStaticTokens([]byte("- {sha256: " + HashToken("dev") + ", principal: {type: Agent, id: ns/dev}}"))
		if err != nil {
			t.Fatal(err)
		}
		s := startSPIFFEServer(t, td, bundle, true, static)
		if status, id, err := s.call(t, &triage, ""); err != nil || status != http.StatusOK || id.Kind != KindSPIFFE {
			t.Errorf("valid SVID: %d, %+v, %v", status, id, err)
		}
		if status, _, err := s.call(t, nil, ""); err != nil || status != http.StatusUnauthorized {
			t.Errorf("no certificate, no token: %d, %v; want 401", status, err)
		}
		if status, id, err := s.call(t, nil, "dev"); err != nil || status != http.StatusOK || id.Kind != KindStatic {
			t.Errorf("no certificate, bearer token: %d, %+v, %v", status, id, err)
		}
		// A presented certificate must still be valid.
		for name, cert := range map[string]*tls.Certificate{"expired": &expired, "foreign": &foreign, "rogue CA": &rogue} {
			if status, id, err := s.call(t, cert, "dev"); err == nil {
				t.Errorf("%s: handshake succeeded: %d, %+v", name, status, id)
			}
		}
	})
}

// TestSPIFFEVerifiesPerRequest proves that the authenticator does not rely
// on the server's tls.Config: certificates that reached the handler without
// verification are checked again.
func TestSPIFFEVerifiesPerRequest(t *testing.T) {
	t.Parallel()
	td := spiffeid.RequireTrustDomainFromString("example.org")
	ca := newCA(t, "example.org")
	now := time.Now()
	sp, err := NewSPIFFE(SPIFFEOptions{
		TrustDomain: td, Bundle: x509bundle.FromX509Authorities(td, []*x509.Certificate{ca.cert}),
		Now: func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	good := ca.svid(t, "spiffe://example.org/ns/a/sa/b")
	rogue := newCA(t, "example.org").svid(t, "spiffe://example.org/ns/a/sa/b")
	foreign := newCA(t, "evil.org").svid(t, "spiffe://evil.org/ns/a/sa/b")
	req := func(c *tls.Certificate) *http.Request {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.TLS = &tls.ConnectionState{}
		if c != nil {
			r.TLS.PeerCertificates = []*x509.Certificate{c.Leaf}
		}
		return r
	}
	if id, err := sp.Authenticate(req(&good)); err != nil || id.Principal != AgentPrincipal("a", "b") {
		t.Errorf("good: %+v, %v", id, err)
	}
	for name, c := range map[string]*tls.Certificate{"rogue CA": &rogue, "foreign": &foreign} {
		if id, err := sp.Authenticate(req(c)); !errors.Is(err, ErrUnauthenticated) || errors.Is(err, ErrNoCredentials) || id != nil {
			t.Errorf("%s: %+v, %v", name, id, err)
		}
	}
	if _, err := sp.Authenticate(req(nil)); !errors.Is(err, ErrNoCredentials) {
		t.Errorf("no certificate: %v", err)
	}
	if _, err := sp.Authenticate(httptest.NewRequest(http.MethodGet, "/", nil)); !errors.Is(err, ErrNoCredentials) {
		t.Errorf("plain HTTP: %v", err)
	}
	// The certificate expires while the connection stays open: the cached
	// verification ends with it.
	now = good.Leaf.NotAfter.Add(time.Second)
	if _, err := sp.Authenticate(req(&good)); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("expired: %v", err)
	}

	// A cached verification ends after CacheTTL: a CA removed from the
	// bundle stops being trusted.
	bundle := x509bundle.FromX509Authorities(td, []*x509.Certificate{ca.cert})
	now = time.Now()
	sp, err = NewSPIFFE(SPIFFEOptions{TrustDomain: td, Bundle: bundle, CacheTTL: time.Minute, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sp.Authenticate(req(&good)); err != nil {
		t.Fatal(err)
	}
	bundle.RemoveX509Authority(ca.cert)
	bundle.AddX509Authority(newCA(t, "example.org").cert)
	if _, err := sp.Authenticate(req(&good)); err != nil {
		t.Errorf("within CacheTTL: %v", err)
	}
	now = now.Add(time.Minute)
	if _, err := sp.Authenticate(req(&good)); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("after CacheTTL, CA gone: %v", err)
	}
}

func TestSPIFFEPrincipal(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]types.EntityUID{
		"spiffe://td/ns/acme/sa/triage":       AgentPrincipal("acme", "triage"),
		"spiffe://td/ns/acme/sa/triage/extra": types.NewEntityUID("Agent", "spiffe://td/ns/acme/sa/triage/extra"),
		"spiffe://td/ns/acme/pod/triage":      types.NewEntityUID("Agent", "spiffe://td/ns/acme/pod/triage"),
		"spiffe://td/workload":                types.NewEntityUID("Agent", "spiffe://td/workload"),
		"spiffe://td":                         types.NewEntityUID("Agent", "spiffe://td"),
	} {
		if got := SPIFFEPrincipal(spiffeid.RequireFromString(in)); got != want {
			t.Errorf("SPIFFEPrincipal(%s) = %s, want %s", in, got, want)
		}
	}
}

func TestLoadSPIFFEBundleAndOptions(t *testing.T) {
	t.Parallel()
	ca := newCA(t, "example.org")
	path := filepath.Join(t.TempDir(), "bundle.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	td, b, err := LoadSPIFFEBundle("example.org", path)
	if err != nil || td.Name() != "example.org" || len(b.X509Authorities()) != 1 {
		t.Fatalf("LoadSPIFFEBundle: %v, %v, %v", td, b, err)
	}
	if _, _, err := LoadSPIFFEBundle("Not a TD!", path); err == nil {
		t.Error("bad trust domain accepted")
	}
	empty := filepath.Join(t.TempDir(), "empty.pem")
	_ = os.WriteFile(empty, nil, 0o600)
	if _, _, err := LoadSPIFFEBundle("example.org", empty); err == nil {
		t.Error("empty bundle accepted")
	}
	other := spiffeid.RequireTrustDomainFromString("other.org")
	for name, o := range map[string]SPIFFEOptions{
		"no trust domain":           {Bundle: b},
		"no bundle":                 {TrustDomain: td},
		"bundle for another domain": {TrustDomain: other, Bundle: b},
	} {
		if _, err := NewSPIFFE(o); err == nil {
			t.Errorf("NewSPIFFE %s: no error", name)
		}
		if _, err := ServerTLSConfig(TLSOptions{TrustDomain: o.TrustDomain, Bundle: o.Bundle, Certificate: &tls.Certificate{}}); err == nil {
			t.Errorf("ServerTLSConfig %s: no error", name)
		}
	}
	if _, err := ServerTLSConfig(TLSOptions{TrustDomain: td, Bundle: b}); err == nil {
		t.Error("ServerTLSConfig without a server certificate: no error")
	}
}
