package chart

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// buildDir holds the binary built by buildAgentguard; TestMain removes it.
var buildDir string

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// buildAgentguard builds the binary once per test run.
var buildAgentguard = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "agentguard-chart-test-")
	if err != nil {
		return "", err
	}
	buildDir = dir
	bin := filepath.Join(dir, "agentguard")
	_, file, _, _ := runtimeCaller()
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/agentguard")
	cmd.Dir = filepath.Join(filepath.Dir(file), "..", "..", "..")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %w\n%s", err, out)
	}
	return bin, nil
})

// syncBuffer is a log sink safe for the process's writer and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().String()
}

// localArgs turns a rendered container's args into a local run: paths into
// temporary directories, listen addresses onto loopback, and the bundle
// source onto the default bundle (unsigned). Everything else is passed as
// rendered, so a flag the binary does not know fails the test.
func localArgs(t *testing.T, args []string, addr string, files map[string]string) []string {
	t.Helper()
	var out []string
	for _, a := range args {
		a = strings.ReplaceAll(a, "$(POD_NAMESPACE)", namespace)
		flag, _, _ := strings.Cut(a, "=")
		switch flag {
		case "--bundle":
			out = append(out, "--bundle="+filepath.Join(repoRoot(t), "policies"), "--insecure-skip-bundle-verify")
		case "--bundle-pubkey":
		case "--cert-dir", "--data-dir", "--grant-signing-key":
			out = append(out, flag+"="+files[flag])
		case "--webhook-addr", "--pdp-addr":
			out = append(out, flag+"="+addr)
		default:
			out = append(out, a)
		}
	}
	return out
}

// startServer runs agentguard with a rendered Deployment's args.
func startServer(ctx context.Context, t *testing.T, c *cluster, d appsv1.Deployment, addr string, files map[string]string) *syncBuffer {
	t.Helper()
	bin, err := buildAgentguard()
	if err != nil {
		t.Fatal(err)
	}
	args := localArgs(t, d.Spec.Template.Spec.Containers[0].Args, addr, files)
	ctx, cancel := context.WithCancel(ctx)
	cmd := exec.CommandContext(ctx, bin, args...)
	// The server gets its ServiceAccount's permissions, nothing more: the
	// chart's RBAC must be enough.
	kubeconfig := writeKubeconfig(t, c.cfg, d.Spec.Template.Spec.ServiceAccountName)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig, "POD_NAMESPACE="+namespace, "HOME="+t.TempDir())
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cancel()
		<-done
		if t.Failed() {
			t.Logf("%s %s logs:\n%s", d.Name, strings.Join(args, " "), logs.String())
		}
	})
	return logs
}

// waitReady polls url until it answers 200.
func waitReady(t *testing.T, client *http.Client, url string, logs *syncBuffer) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		resp, err := client.Get(url)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("%s not ready: %s\nlogs:\n%s", url, last, logs.String())
}

// runInstalledServers starts the webhook and the PDP exactly as the
// installed chart configures them (args, Secrets, RBAC-shaped objects) and
// checks that both become ready, the webhook with a certificate from its own
// rotation that the injected caBundle verifies.
func runInstalledServers(ctx context.Context, t *testing.T, c *cluster, deployments []appsv1.Deployment) {
	t.Helper()
	for _, d := range deployments {
		switch d.Name {
		case "agentguard-webhook":
			certDir := t.TempDir()
			addr := freeAddr(t)
			logs := startServer(ctx, t, c, d, addr, map[string]string{"--cert-dir": certDir, "--data-dir": t.TempDir()})
			// Trust only what the rotator published in the Secret, for the
			// Service's DNS name: what the API server does.
			var client *http.Client
			deadline := time.Now().Add(60 * time.Second)
			for client == nil {
				sec, err := c.client.CoreV1().Secrets(namespace).Get(ctx, "agentguard-webhook-tls", metav1.GetOptions{})
				if err == nil && len(sec.Data["ca.crt"]) > 0 {
					pool := x509.NewCertPool()
					pool.AppendCertsFromPEM(sec.Data["ca.crt"])
					client = &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
						RootCAs: pool, ServerName: "agentguard-webhook." + namespace + ".svc", MinVersion: tls.VersionTLS12}}}
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the webhook never filled its certificate Secret: %v\nlogs:\n%s", err, logs.String())
				}
				time.Sleep(250 * time.Millisecond)
			}
			waitReady(t, client, "https://"+addr+"/readyz", logs)
			vw, err := c.client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, release, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			sec, _ := c.client.CoreV1().Secrets(namespace).Get(ctx, "agentguard-webhook-tls", metav1.GetOptions{})
			for _, w := range vw.Webhooks {
				if !bytes.Contains(w.ClientConfig.CABundle, sec.Data["ca.crt"]) {
					t.Errorf("webhook %s: caBundle does not hold the rotator's CA", w.Name)
				}
			}
		case "agentguard-pdp":
			// The signing key the chart generated, as the pod mounts it.
			sec, err := c.client.CoreV1().Secrets(namespace).Get(ctx, "agentguard-grant-signing-key", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			keyFile := filepath.Join(t.TempDir(), "grant-signing-key.pem")
			if err := os.WriteFile(keyFile, sec.Data["grant-signing-key.pem"], 0o600); err != nil {
				t.Fatal(err)
			}
			addr := freeAddr(t)
			logs := startServer(ctx, t, c, d, addr, map[string]string{"--data-dir": t.TempDir(), "--grant-signing-key": keyFile})
			waitReady(t, &http.Client{Timeout: 2 * time.Second}, "http://"+addr+"/readyz", logs)
		default:
			t.Errorf("unexpected Deployment %s", d.Name)
		}
	}
}
