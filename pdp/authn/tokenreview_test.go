package authn

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

const testAudience = "agentguard-pdp"

// fakeAPIServer answers TokenReviews from a table of tokens.
type fakeAPIServer struct {
	mu        sync.Mutex
	calls     atomic.Int64
	statuses  map[string]authenticationv1.TokenReviewStatus
	err       error         // returned for every review when set
	delay     time.Duration // before answering
	audiences [][]string
}

func (f *fakeAPIServer) set(token string, st authenticationv1.TokenReviewStatus) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.statuses == nil {
		f.statuses = map[string]authenticationv1.TokenReviewStatus{}
	}
	f.statuses[token] = st
}

func (f *fakeAPIServer) client() *fake.Clientset {
	cs := fake.NewClientset()
	cs.PrependReactor("create", "tokenreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		f.calls.Add(1)
		if f.delay > 0 {
			time.Sleep(f.delay)
		}
		tr := a.(k8stesting.CreateAction).GetObject().(*authenticationv1.TokenReview)
		f.mu.Lock()
		defer f.mu.Unlock()
		f.audiences = append(f.audiences, tr.Spec.Audiences)
		if f.err != nil {
			return true, nil, f.err
		}
		out := tr.DeepCopy()
		out.Status = f.statuses[tr.Spec.Token]
		return true, out, nil
	})
	return cs
}

func saStatus(ns, sa string, extra map[string]authenticationv1.ExtraValue, aud ...string) authenticationv1.TokenReviewStatus {
	if len(aud) == 0 {
		aud = []string{testAudience}
	}
	return authenticationv1.TokenReviewStatus{
		Authenticated: true,
		Audiences:     aud,
		User: authenticationv1.UserInfo{
			Username: "system:serviceaccount:" + ns + ":" + sa,
			UID:      "uid-" + sa,
			Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"},
			Extra:    extra,
		},
	}
}

// jwtWithExp returns a JWS-shaped token (unsigned; only the apiserver would
// know) with the given exp claim.
func jwtWithExp(t testing.TB, exp time.Time, salt string) string {
	t.Helper()
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"RS256"}`)) + "." +
		enc([]byte(fmt.Sprintf(`{"exp":%d,"sub":%q}`, exp.Unix(), salt))) + "." + enc([]byte("sig"))
}

// jwt returns a JWS-shaped token (its signature is not one) named name.
func jwt(name string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"RS256","kid":"test"}`)) + "." + enc([]byte(fmt.Sprintf(`{"sub":%q}`, name))) + "." + enc([]byte("sig"))
}

func bearerRequest(token string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/access/v1/evaluation", nil)
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	return r
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

func newTestTokenReview(t *testing.T, f *fakeAPIServer, opts TokenReviewOptions) *TokenReview {
	t.Helper()
	opts.Client = f.client().AuthenticationV1().TokenReviews()
	if opts.Audience == "" {
		opts.Audience = testAudience
	}
	a, err := NewTokenReview(opts)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestNewTokenReviewRequiresClientAndAudience(t *testing.T) {
	t.Parallel()
	cs := fake.NewClientset()
	if _, err := NewTokenReview(TokenReviewOptions{Audience: "a"}); err == nil {
		t.Error("no client: want error")
	}
	if _, err := NewTokenReview(TokenReviewOptions{Client: cs.AuthenticationV1().TokenReviews()}); err == nil {
		t.Error("no audience: want error")
	}
}

func TestTokenReviewIdentities(t *testing.T) {
	t.Parallel()
	podExtra := map[string]authenticationv1.ExtraValue{
		ExtraPodName:      {"triage-7d9f"},
		ExtraPodUID:       {"0b7c6c8e-1111-2222-3333-444455556666"},
		ExtraCredentialID: {"JTI=abc"},
	}
	f := &fakeAPIServer{}
	f.set(jwt("tok-plain"), saStatus("acme-agents", "triage", nil))
	f.set(jwt("tok-bound"), saStatus("acme-agents", "triage", podExtra))
	f.set(jwt("tok-other-aud"), saStatus("acme-agents", "triage", nil, "https://kubernetes.default.svc"))
	noAud := saStatus("acme-agents", "triage", nil)
	noAud.Audiences = nil
	f.set(jwt("tok-no-aud"), noAud)
	f.set(jwt("tok-refused"), authenticationv1.TokenReviewStatus{Error: "invalid bearer token"})
	f.set(jwt("tok-user"), authenticationv1.TokenReviewStatus{Authenticated: true, Audiences: []string{testAudience}, User: authenticationv1.UserInfo{Username: "alice"}})
	f.set(jwt("tok-bad-sa"), authenticationv1.TokenReviewStatus{Authenticated: true, Audiences: []string{testAudience}, User: authenticationv1.UserInfo{Username: "system:serviceaccount:ns:a:b"}})
	a := newTestTokenReview(t, f, TokenReviewOptions{AllowUnboundTokens: true})
	strict := newTestTokenReview(t, f, TokenReviewOptions{})

	tests := []struct {
		name    string
		a       *TokenReview
		token   string
		want    *Identity
		wantErr error
	}{
		{name: "service account", a: a, token: jwt("tok-plain"), want: &Identity{
			Kind: KindServiceAccount, Principal: AgentPrincipal("acme-agents", "triage"),
			Namespace: "acme-agents", ServiceAccount: "triage", Username: "system:serviceaccount:acme-agents:triage",
			Groups: []string{"system:serviceaccounts", "system:serviceaccounts:acme-agents", "system:authenticated"},
		}},
		{name: "pod-bound", a: strict, token: jwt("tok-bound"), want: &Identity{
			Kind: KindServiceAccount, Principal: AgentPrincipal("acme-agents", "triage"),
			Namespace: "acme-agents", ServiceAccount: "triage", Username: "system:serviceaccount:acme-agents:triage",
			PodName: "triage-7d9f", PodUID: "0b7c6c8e-1111-2222-3333-444455556666", CredentialID: "JTI=abc",
			Groups: []string{"system:serviceaccounts", "system:serviceaccounts:acme-agents", "system:authenticated"},
		}},
		{name: "unbound refused by default", a: strict, token: jwt("tok-plain"), wantErr: ErrUnauthenticated},
		{name: "other audience", a: a, token: jwt("tok-other-aud"), wantErr: ErrUnauthenticated},
		{name: "no audience in status", a: a, token: jwt("tok-no-aud"), wantErr: ErrUnauthenticated},
		{name: "refused", a: a, token: jwt("tok-refused"), wantErr: ErrUnauthenticated},
		{name: "not a service account", a: a, token: jwt("tok-user"), wantErr: ErrUnauthenticated},
		{name: "malformed service account user", a: a, token: jwt("tok-bad-sa"), wantErr: ErrUnauthenticated},
		{name: "unknown token", a: a, token: jwt("tok-nope"), wantErr: ErrUnauthenticated},
		{name: "no token", a: a, token: "", wantErr: ErrNoCredentials},
		{name: "not a JWT", a: a, token: "opaque-token", wantErr: ErrUnauthenticated},
		{name: "unsigned JWT", a: a, token: "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.c2ln", wantErr: ErrUnauthenticated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.a.Authenticate(bearerRequest(tt.token))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || got != nil {
					t.Fatalf("got %+v, %v; want error %v", got, err, tt.wantErr)
				}
				if tt.token != "" && strings.Contains(err.Error(), tt.token) {
					t.Errorf("error %q contains the token", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("identity (-want +got):\n%s", diff)
			}
		})
	}
	if n := f.calls.Load(); n != 9 {
		t.Errorf("TokenReviews = %d, want 9 (none for tokens that are not JWTs)", n)
	}
	for _, aud := range f.audiences {
		if diff := cmp.Diff([]string{testAudience}, aud); diff != "" {
			t.Errorf("TokenReview spec.audiences (-want +got):\n%s", diff)
		}
	}
}

func TestTokenReviewCache(t *testing.T) {
	t.Parallel()
	clk := &clock{t: time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)}
	f := &fakeAPIServer{}
	longLived := jwtWithExp(t, clk.now().Add(time.Hour), "long")
	shortLived := jwtWithExp(t, clk.now().Add(time.Minute+20*time.Second), "short")
	f.set(longLived, saStatus("ns", "long", nil))
	f.set(shortLived, saStatus("ns", "short", nil))
	a := newTestTokenReview(t, f, TokenReviewOptions{Now: clk.now, CacheTTL: time.Minute, NegativeCacheTTL: 5 * time.Second, AllowUnboundTokens: true})

	auth := func(token string) (*Identity, error) { return a.Authenticate(bearerRequest(token)) }
	mustCalls := func(want int64) {
		t.Helper()
		if got := f.calls.Load(); got != want {
			t.Fatalf("TokenReviews = %d, want %d", got, want)
		}
	}

	id, err := auth(longLived)
	if err != nil {
		t.Fatal(err)
	}
	if want := clk.now().Add(time.Hour).Truncate(time.Second); !id.Expiry.Equal(want) {
		t.Errorf("Expiry = %v, want %v", id.Expiry, want)
	}
	id.Groups[0] = "tampered" // a caller mutating its copy must not affect the cache
	id2, err := auth(longLived)
	if err != nil || id2.Groups[0] != "system:serviceaccounts" {
		t.Fatalf("cached identity: %+v, %v", id2, err)
	}
	mustCalls(1)

	// The TTL ends the entry: a new review after a minute.
	clk.add(time.Minute)
	if _, err := auth(longLived); err != nil {
		t.Fatal(err)
	}
	mustCalls(2)

	// The token's own expiry ends the entry earlier than the TTL.
	if _, err := auth(shortLived); err != nil {
		t.Fatal(err)
	}
	mustCalls(3)
	clk.add(19 * time.Second)
	if _, err := auth(shortLived); err != nil {
		t.Fatal(err)
	}
	mustCalls(3)
	clk.add(time.Second)
	f.set(shortLived, authenticationv1.TokenReviewStatus{Error: "token has expired"})
	if _, err := auth(shortLived); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("expired token: %v", err)
	}
	mustCalls(4)

	// Refusals are cached for NegativeCacheTTL.
	if _, err := auth(shortLived); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("cached refusal: %v", err)
	}
	mustCalls(4)
	clk.add(5 * time.Second)
	if _, err := auth(shortLived); !errors.Is(err, ErrUnauthenticated) {
		t.Fatal(err)
	}
	mustCalls(5)
}

func TestTokenReviewCacheWithoutExpClaim(t *testing.T) {
	t.Parallel()
	clk := &clock{t: time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)}
	f := &fakeAPIServer{}
	f.set(jwt("opaque"), saStatus("ns", "sa", nil))
	a := newTestTokenReview(t, f, TokenReviewOptions{Now: clk.now, CacheTTL: 30 * time.Second, AllowUnboundTokens: true})
	for range 3 {
		if _, err := a.Authenticate(bearerRequest(jwt("opaque"))); err != nil {
			t.Fatal(err)
		}
	}
	clk.add(30 * time.Second)
	if _, err := a.Authenticate(bearerRequest(jwt("opaque"))); err != nil {
		t.Fatal(err)
	}
	if got := f.calls.Load(); got != 2 {
		t.Errorf("TokenReviews = %d, want 2", got)
	}
}

func TestTokenReviewCacheDisabled(t *testing.T) {
	t.Parallel()
	f := &fakeAPIServer{}
	f.set(jwt("t"), saStatus("ns", "sa", nil))
	a := newTestTokenReview(t, f, TokenReviewOptions{CacheTTL: -1, NegativeCacheTTL: -1, AllowUnboundTokens: true})
	for range 3 {
		if _, err := a.Authenticate(bearerRequest(jwt("t"))); err != nil {
			t.Fatal(err)
		}
		_, _ = a.Authenticate(bearerRequest(jwt("bad")))
	}
	if got := f.calls.Load(); got != 6 {
		t.Errorf("TokenReviews = %d, want 6", got)
	}
}

func TestTokenReviewCacheBounded(t *testing.T) {
	t.Parallel()
	f := &fakeAPIServer{}
	for i := range 20 {
		f.set(jwt(fmt.Sprintf("t%d", i)), saStatus("ns", fmt.Sprintf("sa%d", i), nil))
	}
	a := newTestTokenReview(t, f, TokenReviewOptions{CacheSize: 5, AllowUnboundTokens: true})
	for i := range 20 {
		if _, err := a.Authenticate(bearerRequest(jwt(fmt.Sprintf("t%d", i)))); err != nil {
			t.Fatal(err)
		}
	}
	if n := a.cache.len(); n != 5 {
		t.Errorf("cache holds %d entries, want 5", n)
	}
	// The most recent tokens are still cached; the oldest were evicted.
	before := f.calls.Load()
	_, _ = a.Authenticate(bearerRequest(jwt("t19")))
	_, _ = a.Authenticate(bearerRequest(jwt("t0")))
	if got := f.calls.Load() - before; got != 1 {
		t.Errorf("TokenReviews after eviction = %d, want 1", got)
	}
}

func TestTokenReviewUnavailable(t *testing.T) {
	t.Parallel()
	secret := jwt("s3cr3t-token-value")
	for i, err := range []error{
		errors.New(`Post "https://10.0.0.1/apis/authentication.k8s.io/v1/tokenreviews": dial tcp: connection refused (token ` + secret + `)`),
		apierrors.NewForbidden(schema.GroupResource{Group: "authentication.k8s.io", Resource: "tokenreviews"}, "", errors.New("RBAC: no create")),
		apierrors.NewInternalError(errors.New("etcd down")),
		apierrors.NewTooManyRequests("slow down", 1),
	} {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			t.Parallel()
			f := &fakeAPIServer{err: err}
			a := newTestTokenReview(t, f, TokenReviewOptions{})
			for range 2 {
				id, got := a.Authenticate(bearerRequest(secret))
				if id != nil || !errors.Is(got, ErrUnavailable) || errors.Is(got, ErrUnauthenticated) {
					t.Fatalf("got %+v, %v; want ErrUnavailable", id, got)
				}
				if strings.Contains(got.Error(), secret) {
					t.Fatalf("error %q contains the token", got)
				}
			}
			// Unavailability is never cached: the apiserver is asked again.
			if n := f.calls.Load(); n != 2 {
				t.Errorf("TokenReviews = %d, want 2", n)
			}
		})
	}
}

func TestTokenReviewSharesConcurrentReviews(t *testing.T) {
	t.Parallel()
	f := &fakeAPIServer{delay: 50 * time.Millisecond}
	f.set(jwt("t"), saStatus("ns", "sa", nil))
	a := newTestTokenReview(t, f, TokenReviewOptions{AllowUnboundTokens: true})
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			if _, err := a.Authenticate(bearerRequest(jwt("t"))); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := f.calls.Load(); n != 1 {
		t.Errorf("TokenReviews = %d, want 1", n)
	}
}

func TestParseServiceAccountUser(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in     string
		ns, sa string
		ok     bool
	}{
		{"system:serviceaccount:acme:triage", "acme", "triage", true},
		{"system:serviceaccount:acme:", "", "", false},
		{"system:serviceaccount::triage", "", "", false},
		{"system:serviceaccount:acme", "", "", false},
		{"system:serviceaccount:a:b:c", "", "", false},
		{"system:serviceaccounts:acme", "", "", false},
		{"alice", "", "", false},
	} {
		ns, sa, ok := parseServiceAccountUser(tt.in)
		if ns != tt.ns || sa != tt.sa || ok != tt.ok {
			t.Errorf("parseServiceAccountUser(%q) = %q, %q, %v", tt.in, ns, sa, ok)
		}
	}
}
