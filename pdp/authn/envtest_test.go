package authn_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/agentguard/agentguard/internal/testenv"
	"github.com/agentguard/agentguard/pdp/authn"
)

// The kube-apiserver + etcd are started once for the package, on first use,
// and stopped by TestMain; unit tests never wait for them. envtest
// configures --service-account-issuer, -key-file and -signing-key-file,
// which TokenRequest and TokenReview need.
var cluster testenv.Shared

func TestMain(m *testing.M) {
	code := m.Run()
	if err := cluster.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "stop envtest: %v\n", err)
	}
	os.Exit(code)
}

// startCluster returns the package's envtest apiserver, starting it if
// needed. KUBEBUILDER_ASSETS must name the kube-apiserver and etcd binaries.
func startCluster(t *testing.T) (*rest.Config, kubernetes.Interface) {
	t.Helper()
	cfg := cluster.Start(t)
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cfg, client
}

const pdpAudience = "agentguard-pdp"

// agent is a namespace with a ServiceAccount and a pod running under it.
type agent struct {
	ns, sa string
	pod    *corev1.Pod
}

func newAgent(t *testing.T, c kubernetes.Interface, name string) *agent {
	t.Helper()
	ctx := t.Context()
	ns := fmt.Sprintf("authn-%s-%d", name, time.Now().UnixNano()%1e6)
	if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	no := false
	pod, err := c.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name + "-0"},
		Spec: corev1.PodSpec{
			ServiceAccountName:           name,
			AutomountServiceAccountToken: &no,
			Containers:                   []corev1.Container{{Name: "agent", Image: "registry.example/agent:1"}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return &agent{ns: ns, sa: name, pod: pod}
}

// token mints a token through the TokenRequest API, bound to the agent's pod
// when bound is set.
func (a *agent) token(t *testing.T, c kubernetes.Interface, audience string, bound bool) string {
	t.Helper()
	exp := int64(600)
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{Audiences: []string{audience}, ExpirationSeconds: &exp}}
	if bound {
		req.Spec.BoundObjectRef = &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: a.pod.Name, UID: a.pod.UID}
	}
	tr, err := c.CoreV1().ServiceAccounts(a.ns).CreateToken(t.Context(), a.sa, req, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("TokenRequest: %v", err)
	}
	return tr.Status.Token
}

// countingTransport counts TokenReview requests.
type countingTransport struct {
	next    http.RoundTripper
	reviews atomic.Int64
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/tokenreviews") {
		c.reviews.Add(1)
	}
	return c.next.RoundTrip(r)
}

func newAuthenticator(t *testing.T, cfg *rest.Config, opts authn.TokenReviewOptions) (*authn.TokenReview, *countingTransport) {
	t.Helper()
	ct := &countingTransport{}
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { ct.next = rt; return ct })
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	opts.Client = cs.AuthenticationV1().TokenReviews()
	if opts.Audience == "" {
		opts.Audience = pdpAudience
	}
	a, err := authn.NewTokenReview(opts)
	if err != nil {
		t.Fatal(err)
	}
	return a, ct
}

// pdpServer is an HTTP server behind authn.Middleware that answers with
// the caller's Identity.
func pdpServer(t *testing.T, a authn.Authenticator) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(authn.Middleware(a, authn.HTTPOptions{})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := authn.FromContext(r.Context())
		_ = json.NewEncoder(w).Encode(id)
	})))
	t.Cleanup(srv.Close)
	return srv
}

type response struct {
	status    int
	challenge string
	retry     string
	id        *authn.Identity
}

func call(t *testing.T, url, token string) response {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, url+"/access/v1/evaluation", strings.NewReader(`{}`))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	out := response{status: resp.StatusCode, challenge: resp.Header.Get("WWW-Authenticate"), retry: resp.Header.Get("Retry-After")}
	if resp.StatusCode == http.StatusOK {
		out.id = new(authn.Identity)
		if err := json.NewDecoder(resp.Body).Decode(out.id); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func TestEnvtestTokenReview(t *testing.T) {
	cfg, c := startCluster(t)
	ag := newAgent(t, c, "triage")
	a, _ := newAuthenticator(t, cfg, authn.TokenReviewOptions{AllowUnboundTokens: true})
	strict, _ := newAuthenticator(t, cfg, authn.TokenReviewOptions{})
	srv, strictSrv := pdpServer(t, a), pdpServer(t, strict)

	t.Run("pod-bound token", func(t *testing.T) {
		r := call(t, strictSrv.URL, ag.token(t, c, pdpAudience, true))
		if r.status != http.StatusOK {
			t.Fatalf("status %d, challenge %q", r.status, r.challenge)
		}
		id := r.id
		if id.Kind != authn.KindServiceAccount || id.Principal != authn.AgentPrincipal(ag.ns, "triage") ||
			id.Namespace != ag.ns || id.ServiceAccount != "triage" || id.Username != "system:serviceaccount:"+ag.ns+":triage" {
			t.Errorf("identity %+v", id)
		}
		if id.PodName != ag.pod.Name || id.PodUID != string(ag.pod.UID) {
			t.Errorf("pod = %q/%q, want %q/%q", id.PodName, id.PodUID, ag.pod.Name, ag.pod.UID)
		}
		if id.CredentialID == "" {
			t.Error("no credential id (JTI)")
		}
		if d := time.Until(id.Expiry); d < 9*time.Minute || d > 11*time.Minute {
			t.Errorf("expiry in %v, want about 10m", d)
		}
		if d := time.Since(id.IssuedAt); d < -time.Minute || d > time.Minute {
			t.Errorf("issued %v ago, want just now", d)
		}
	})
	t.Run("unbound token", func(t *testing.T) {
		tok := ag.token(t, c, pdpAudience, false)
		if r := call(t, srv.URL, tok); r.status != http.StatusOK || r.id.PodUID != "" || r.id.Principal != authn.AgentPrincipal(ag.ns, "triage") {
			t.Errorf("got %+v", r)
		}
		if r := call(t, strictSrv.URL, tok); r.status != http.StatusUnauthorized {
			t.Errorf("unbound token by default: status %d, want 401", r.status)
		}
	})
	for _, tt := range []struct {
		name, token, challenge string
	}{
		{"no token", "", `Bearer realm="agentguard"`},
		{"token for another audience", ag.token(t, c, "https://kubernetes.default.svc", true), `Bearer realm="agentguard", error="invalid_token"`},
		{"garbage token", "not.a.jwt", `Bearer realm="agentguard", error="invalid_token"`},
		{"forged token", forge(ag.token(t, c, pdpAudience, true)), `Bearer realm="agentguard", error="invalid_token"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := call(t, srv.URL, tt.token)
			if r.status != http.StatusUnauthorized || !strings.HasPrefix(r.challenge, tt.challenge) {
				t.Errorf("status %d, WWW-Authenticate %q; want 401, %q", r.status, r.challenge, tt.challenge)
			}
		})
	}
}

// forge changes the subject of a real token, keeping its signature.
func forge(token string) string {
	parts := strings.Split(token, ".")
	return parts[0] + "." + strings.Replace(parts[1], parts[1][4:8], "AAAA", 1) + "." + parts[2]
}

// TestEnvtestDeletedPod: a token bound to a pod stops working once the pod
// is gone (AG-SEC-007 (b)); the apiserver checks the pod in TokenReview.
func TestEnvtestDeletedPod(t *testing.T) {
	t.Parallel() // mostly waiting for the apiserver's cache to expire
	cfg, c := startCluster(t)
	ag := newAgent(t, c, "ephemeral")
	tok := ag.token(t, c, pdpAudience, true)
	// No PDP-side cache, so that what is measured is the apiserver's answer.
	a, _ := newAuthenticator(t, cfg, authn.TokenReviewOptions{CacheTTL: -1, NegativeCacheTTL: -1, AllowUnboundTokens: true})
	srv := pdpServer(t, a)
	if r := call(t, srv.URL, tok); r.status != http.StatusOK || r.id.PodUID != string(ag.pod.UID) {
		t.Fatalf("before deletion: %+v", r)
	}
	zero := int64(0)
	if err := c.CoreV1().Pods(ag.ns).Delete(t.Context(), ag.pod.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatal(err)
	}
	deleted := time.Now()
	// The apiserver caches successful token authentications for a few
	// seconds; AG-SEC-007 allows 60 s.
	for {
		r := call(t, srv.URL, tok)
		if r.status == http.StatusUnauthorized {
			t.Logf("token refused %v after the pod was deleted", time.Since(deleted).Round(time.Millisecond))
			break
		}
		if r.status != http.StatusOK {
			t.Fatalf("status %d", r.status)
		}
		if time.Since(deleted) > 60*time.Second {
			t.Fatal("token of a deleted pod still accepted after 60s")
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// TestEnvtestDeletedServiceAccount: a token stops working once its
// ServiceAccount is gone.
func TestEnvtestDeletedServiceAccount(t *testing.T) {
	t.Parallel()
	cfg, c := startCluster(t)
	a, _ := newAuthenticator(t, cfg, authn.TokenReviewOptions{CacheTTL: -1, NegativeCacheTTL: -1})
	ag2 := newAgent(t, c, "retired")
	tok2 := ag2.token(t, c, pdpAudience, true)
	if _, err := a.Authenticate(bearer(tok2)); err != nil {
		t.Fatal(err)
	}
	if err := c.CoreV1().ServiceAccounts(ag2.ns).Delete(t.Context(), ag2.sa, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		_, err := a.Authenticate(bearer(tok2))
		if errors.Is(err, authn.ErrUnauthenticated) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("token of a deleted ServiceAccount: %v", err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func bearer(token string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/", nil)
	r.Header.Set("Authorization", "Bearer "+token)
	return r
}

func TestEnvtestCache(t *testing.T) {
	cfg, c := startCluster(t)
	ag := newAgent(t, c, "cached")
	a, ct := newAuthenticator(t, cfg, authn.TokenReviewOptions{})
	tok := ag.token(t, c, pdpAudience, true)
	for range 3 {
		if _, err := a.Authenticate(bearer(tok)); err != nil {
			t.Fatal(err)
		}
	}
	if n := ct.reviews.Load(); n != 1 {
		t.Errorf("TokenReviews for three requests with one token = %d, want 1", n)
	}
	other := ag.token(t, c, "someone-else", true)
	for range 3 {
		if _, err := a.Authenticate(bearer(other)); !errors.Is(err, authn.ErrUnauthenticated) {
			t.Fatalf("foreign audience: %v", err)
		}
	}
	if n := ct.reviews.Load(); n != 2 {
		t.Errorf("TokenReviews after three refusals = %d, want 2 (refusals are cached)", n)
	}
}

// TestEnvtestAPIServerDown: with the apiserver unreachable, a token is
// neither accepted nor called invalid: 503 with Retry-After.
func TestEnvtestAPIServerDown(t *testing.T) {
	cfg, c := startCluster(t)
	ag := newAgent(t, c, "outage")
	proxy := newProxy(t, cfg.Host)
	cfg.Host = "https://" + proxy.addr()
	a, _ := newAuthenticator(t, cfg, authn.TokenReviewOptions{Timeout: 2 * time.Second})
	srv := pdpServer(t, a)
	if _, err := a.Authenticate(bearer(ag.token(t, c, pdpAudience, true))); err != nil {
		t.Fatalf("through the proxy: %v", err)
	}

	proxy.stop() // the apiserver is gone: connections are refused
	fresh := ag.token(t, c, pdpAudience, true)
	for _, tok := range []string{fresh, forge(fresh)} {
		id, err := a.Authenticate(bearer(tok))
		if id != nil || !errors.Is(err, authn.ErrUnavailable) || errors.Is(err, authn.ErrUnauthenticated) {
			t.Fatalf("apiserver down: %+v, %v; want ErrUnavailable", id, err)
		}
		if strings.Contains(err.Error(), tok) {
			t.Errorf("error %q contains the token", err)
		}
		r := call(t, srv.URL, tok)
		if r.status != http.StatusServiceUnavailable || r.retry == "" || r.challenge != "" {
			t.Errorf("HTTP: %+v; want 503 with Retry-After, no challenge", r)
		}
	}
	// What is not even a JWT needs no apiserver to be refused.
	if r := call(t, srv.URL, "not-a-jwt"); r.status != http.StatusUnauthorized {
		t.Errorf("garbage during the outage: %+v; want 401", r)
	}
}

// proxy forwards TCP connections to the apiserver until stopped.
type proxy struct {
	l     net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func newProxy(t *testing.T, target string) *proxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	target = u.Host
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{l: l}
	go func() {
		for {
			in, err := l.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				_ = in.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, in, out)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(out, in); _ = out.Close() }()
			go func() { _, _ = io.Copy(in, out); _ = in.Close() }()
		}
	}()
	t.Cleanup(p.stop)
	return p
}

func (p *proxy) addr() string { return p.l.Addr().String() }

func (p *proxy) stop() {
	_ = p.l.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
}
