package authn

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/agentguard/agentguard/internal/httpx"
)

func TestMiddleware(t *testing.T) {
	t.Parallel()
	alice := &Identity{Kind: KindStatic, Principal: AgentPrincipal("ns", "alice")}
	tests := []struct {
		name          string
		result        func() (*Identity, error)
		opts          HTTPOptions
		wantStatus    int
		wantChallenge string
		wantRetry     string
	}{
		{name: "authenticated", result: func() (*Identity, error) { return alice, nil }, wantStatus: http.StatusOK},
		{name: "no credentials", result: func() (*Identity, error) { return nil, ErrNoCredentials },
			wantStatus: http.StatusUnauthorized, wantChallenge: `Bearer realm="agentguard"`},
		{name: "no credentials, resource metadata", result: func() (*Identity, error) { return nil, ErrNoCredentials },
			opts:       HTTPOptions{ResourceMetadata: "https://pdp.example/.well-known/oauth-protected-resource", Realm: `a"b`},
			wantStatus: http.StatusUnauthorized, wantChallenge: `Bearer realm="a\"b", resource_metadata="https://pdp.example/.well-known/oauth-protected-resource"`},
		{name: "invalid token", result: func() (*Identity, error) { return nil, unauthenticated("token refused") },
			wantStatus: http.StatusUnauthorized, wantChallenge: `Bearer realm="agentguard", error="invalid_token", error_description="the credential is invalid, expired or not for this audience"`},
		{name: "unavailable", result: func() (*Identity, error) { return nil, unavailable("apiserver down") },
			wantStatus: http.StatusServiceUnavailable, wantRetry: "1"},
		{name: "unavailable, retry after 2.5s", result: func() (*Identity, error) { return nil, fmt.Errorf("wrapped: %w", ErrUnavailable) },
			opts: HTTPOptions{RetryAfter: 2500e6}, wantStatus: http.StatusServiceUnavailable, wantRetry: "3"},
		{name: "nil identity without error", result: func() (*Identity, error) { return nil, nil },
			wantStatus: http.StatusUnauthorized, wantChallenge: `Bearer realm="agentguard", error="invalid_token", error_description="the credential is invalid, expired or not for this audience"`},
		{name: "unexpected error", result: func() (*Identity, error) { return nil, errors.New("boom") },
			wantStatus: http.StatusInternalServerError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var seen []error
			tt.opts.OnError = func(_ *http.Request, err error) { seen = append(seen, err) }
			called := false
			h := Middleware(AuthenticatorFunc(func(*http.Request) (*Identity, error) { return tt.result() }), tt.opts)(
				http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					called = true
					id, ok := FromContext(r.Context())
					if !ok || id != alice {
						t.Errorf("FromContext = %v, %v", id, ok)
					}
				}))
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/access/v1/evaluation", strings.NewReader("{}")))
			if rec.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d", rec.Code, tt.wantStatus)
			}
			if tt.wantStatus == http.StatusOK {
				if !called || len(seen) != 0 {
					t.Fatalf("handler called %v, errors %v", called, seen)
				}
				return
			}
			if called {
				t.Fatal("handler called on failure")
			}
			if len(seen) != 1 {
				t.Errorf("OnError saw %d errors, want 1", len(seen))
			}
			if got := rec.Header().Get("WWW-Authenticate"); got != tt.wantChallenge {
				t.Errorf("WWW-Authenticate = %q, want %q", got, tt.wantChallenge)
			}
			if got := rec.Header().Get("Retry-After"); got != tt.wantRetry {
				t.Errorf("Retry-After = %q, want %q", got, tt.wantRetry)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			var body httpx.ErrorBody
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatal(err)
			}
			if body.Status != tt.wantStatus || body.Error == "" {
				t.Errorf("body = %+v", body)
			}
			for _, leak := range []string{"token refused", "apiserver down", "boom"} {
				if strings.Contains(body.Error, leak) {
					t.Errorf("body %q repeats the error detail %q", body.Error, leak)
				}
			}
		})
	}
}

func TestChain(t *testing.T) {
	t.Parallel()
	alice := &Identity{Principal: AgentPrincipal("ns", "alice")}
	bob := &Identity{Principal: AgentPrincipal("ns", "bob")}
	ok := func(id *Identity) Authenticator {
		return AuthenticatorFunc(func(*http.Request) (*Identity, error) { return id, nil })
	}
	fail := func(err error) Authenticator {
		return AuthenticatorFunc(func(*http.Request) (*Identity, error) { return nil, err })
	}
	never := AuthenticatorFunc(func(*http.Request) (*Identity, error) {
		t.Error("authenticator after a success was called")
		return nil, nil
	})
	refused := unauthenticated("bad token")
	down := unavailable("apiserver down")
	tests := []struct {
		name    string
		chain   []Authenticator
		want    *Identity
		wantErr error
	}{
		{name: "empty", wantErr: ErrNoCredentials},
		{name: "first wins", chain: []Authenticator{ok(alice), never}, want: alice},
		{name: "skips absent credentials", chain: []Authenticator{fail(ErrNoCredentials), ok(bob)}, want: bob},
		{name: "a refusal does not stop the chain", chain: []Authenticator{fail(refused), ok(bob)}, want: bob},
		{name: "unavailable does not stop the chain", chain: []Authenticator{fail(down), ok(bob)}, want: bob},
		{name: "all absent", chain: []Authenticator{fail(ErrNoCredentials), fail(ErrNoCredentials)}, wantErr: ErrNoCredentials},
		{name: "refusal beats absence", chain: []Authenticator{fail(ErrNoCredentials), fail(refused)}, wantErr: refused},
		{name: "unavailable beats refusal", chain: []Authenticator{fail(refused), fail(down)}, wantErr: down},
		{name: "nil identity is a refusal", chain: []Authenticator{ok(nil)}, wantErr: ErrUnauthenticated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Chain(tt.chain...).Authenticate(httptest.NewRequest(http.MethodGet, "/", nil))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || got != nil {
					t.Fatalf("got %v, %v; want %v", got, err, tt.wantErr)
				}
				if errors.Is(tt.wantErr, ErrUnauthenticated) != errors.Is(err, ErrUnauthenticated) {
					t.Fatalf("err %v: wrong class", err)
				}
				return
			}
			if err != nil || !cmp.Equal(got, tt.want) {
				t.Fatalf("got %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}
