package webhook

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"
)

// withContainers returns the typical agent Deployment review with its
// first container repeated to n containers.
func withContainers(b *testing.B, body []byte, n int) []byte {
	b.Helper()
	var review map[string]any
	if err := json.Unmarshal(body, &review); err != nil {
		b.Fatal(err)
	}
	spec := review["request"].(map[string]any)["object"].(map[string]any)["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)
	first := spec["containers"].([]any)[0].(map[string]any)
	cs := make([]any, n)
	for i := range cs {
		c := make(map[string]any, len(first))
		for k, v := range first {
			c[k] = v
		}
		c["name"] = "agent-" + strconv.Itoa(i)
		cs[i] = c
	}
	spec["containers"] = cs
	out, err := json.Marshal(review)
	if err != nil {
		b.Fatal(err)
	}
	return out
}

// BenchmarkReview measures one AdmissionReview for a typical agent
// Deployment (default bundle, including its Rego rule), in-process through
// the HTTP handler and over HTTPS with a kept-alive connection.
func BenchmarkReview(b *testing.B) {
	s := newTestServer(b, Options{})
	fixture := readFixture(b, "agent-deployment.json")
	for _, n := range []int{2, 8, 32} {
		body := fixture
		if n != 2 {
			body = withContainers(b, fixture, n)
		}
		for _, path := range []string{"/validate", "/mutate"} {
			b.Run(fmt.Sprintf("in-process%s/containers=%d", path, n), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					rec := post(s.Handler(), path, body, "application/json")
					if rec.Code != http.StatusOK {
						b.Fatalf("status %d", rec.Code)
					}
				}
			})
		}
	}

	caPEM, cert, err := SelfSigned([]string{"127.0.0.1"})
	if err != nil {
		b.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	hs := newTestServer(b, Options{Addr: addr, Certificate: cert})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- hs.Start(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			b.Errorf("server: %v", err)
		}
	}()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, ForceAttemptHTTP2: true,
	}}
	url := "https://" + addr + "/validate"
	for deadline := time.Now().Add(10 * time.Second); ; {
		resp, err := client.Get("https://" + addr + "/healthz")
		if err == nil {
			_ = resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			b.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.Run("https/validate/containers=2", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			resp, err := client.Post(url, "application/json", bytes.NewReader(fixture))
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Fatalf("status %d", resp.StatusCode)
			}
		}
	})
}
