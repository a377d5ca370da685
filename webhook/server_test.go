package webhook

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agentguard/agentguard/internal/httpx"
)

// TestServeFromCertDir serves TLS from tls.crt/tls.key in a directory (as
// mounted from a cert-manager Secret) and checks the chain against the CA.
func TestServeFromCertDir(t *testing.T) {
	caPEM, cert, err := SelfSigned([]string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var chain []byte
	for _, der := range cert.Certificate {
		chain = append(chain, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tls.crt"), chain, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tls.key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	s := newTestServer(t, Options{Addr: addr, CertDir: dir})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Start(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server: %v", err)
		}
	}()

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	var resp *http.Response
	for deadline := time.Now().Add(10 * time.Second); ; {
		resp, err = client.Get("https://" + addr + "/readyz")
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/readyz: %d", resp.StatusCode)
	}
	resp, err = client.Post("https://"+addr+"/validate", "application/json", strings.NewReader(string(readFixture(t, "agent-deployment.json"))))
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/validate: %d", resp.StatusCode)
	}
}

func TestNewServerOptions(t *testing.T) {
	tests := []struct {
		name string
		opts Options
	}{
		{"no TLS material", Options{}},
		{"bad address", Options{Addr: "nohost", CertDir: "/tmp"}},
		{"bad port", Options{Addr: "127.0.0.1:99999", CertDir: "/tmp"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewServer(tt.opts); err == nil {
				t.Error("accepted")
			}
		})
	}
}

// TestPanicBecomes500 makes the namespace lookup panic: the handler answers
// 500 with a JSON body naming the request, and the server keeps serving.
func TestPanicBecomes500(t *testing.T) {
	s := newTestServer(t, Options{Namespaces: NamespaceLabelerFunc(func(context.Context, string) (map[string]string, error) {
		panic("lookup exploded")
	})})
	rec := post(s.Handler(), "/validate", readFixture(t, "agent-deployment.json"), "application/json")
	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("status %d: %s", rec.Code, rec.Body.String())
	}
	var eb httpx.ErrorBody
	if err := json.Unmarshal(rec.Body.Bytes(), &eb); err != nil || !strings.Contains(eb.Error, "7f0b2a38-6a2f-4c4e-9a51-0d3c1c1e2b10") {
		t.Errorf("body %s (%v)", rec.Body.String(), err)
	}
	// A namespace lookup error (not a panic) fails closed with a denial.
	s2 := newTestServer(t, Options{Namespaces: NamespaceLabelerFunc(func(context.Context, string) (map[string]string, error) {
		return nil, os.ErrDeadlineExceeded
	})})
	resp := decodeResponse(t, post(s2.Handler(), "/validate", readFixture(t, "agent-deployment.json"), "application/json"))
	if resp.Allowed || resp.Result.Code != http.StatusInternalServerError || !strings.Contains(resp.Result.Message, "[AG-GOV-001]") {
		t.Errorf("lookup error: %+v", resp.Result)
	}
}
