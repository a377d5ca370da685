package authn

import (
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestBearerToken(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		headers []string
		want    string
		wantErr error
	}{
		{name: "none", wantErr: ErrNoCredentials},
		{name: "bearer", headers: []string{"Bearer abc.DEF-_~+/09=="}, want: "abc.DEF-_~+/09=="},
		{name: "scheme is case-insensitive", headers: []string{"bearer tok"}, want: "tok"},
		{name: "extra spaces", headers: []string{"Bearer   tok"}, want: "tok"},
		{name: "other scheme", headers: []string{"Basic dXNlcjpwYXNz"}, wantErr: ErrNoCredentials},
		{name: "scheme only", headers: []string{"Bearer"}, wantErr: ErrUnauthenticated},
		{name: "empty token", headers: []string{"Bearer "}, wantErr: ErrUnauthenticated},
		{name: "two headers", headers: []string{"Bearer a", "Bearer b"}, wantErr: ErrUnauthenticated},
		{name: "space inside", headers: []string{"Bearer a b"}, wantErr: ErrUnauthenticated},
		{name: "padding in the middle", headers: []string{"Bearer a=b"}, wantErr: ErrUnauthenticated},
		{name: "only padding", headers: []string{"Bearer =="}, wantErr: ErrUnauthenticated},
		{name: "too long", headers: []string{"Bearer " + strings.Repeat("a", MaxTokenBytes+1)}, wantErr: ErrUnauthenticated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			for _, h := range tt.headers {
				r.Header.Add("Authorization", h)
			}
			got, err := BearerToken(r)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				if !errors.Is(tt.wantErr, ErrNoCredentials) && errors.Is(err, ErrNoCredentials) {
					t.Fatalf("err = %v: a malformed credential is not an absent one", err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func FuzzBearerToken(f *testing.F) {
	for _, s := range []string{"Bearer abc", "bearer a.b.c", "Basic x", "Bearer ", "Bearer a==", "Bearer =a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header["Authorization"] = []string{h}
		tok, err := BearerToken(r)
		if err == nil && (tok == "" || !isB64Token(tok) || len(tok) > MaxTokenBytes) {
			t.Fatalf("accepted %q from %q", tok, h)
		}
		if err != nil && !errors.Is(err, ErrUnauthenticated) {
			t.Fatalf("error %v does not wrap ErrUnauthenticated", err)
		}
	})
}

func TestUnverifiedExpiry(t *testing.T) {
	t.Parallel()
	exp := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	if got, iat := unverifiedTimes(jwtWithExp(t, exp, "x")); !got.Equal(exp) || !iat.IsZero() {
		t.Errorf("got %v, %v; want %v", got, iat, exp)
	}
	enc := base64.RawURLEncoding.EncodeToString
	if got, iat := unverifiedTimes("x." + enc([]byte(`{"exp":1700000600.5,"iat":1700000000}`)) + ".y"); !got.Equal(time.Unix(1700000600, 5e8)) || !iat.Equal(time.Unix(1700000000, 0)) {
		t.Errorf("fractional exp and iat: %v, %v", got, iat)
	}
	for _, tok := range []string{
		"", "opaque", "a.b", "a.b.c.d",
		"eyJhbGciOiJub25lIn0.e30.sig",                 // {}
		"eyJhbGciOiJub25lIn0.eyJleHAiOiJzb29uIn0.sig", // {"exp":"soon"}
		"eyJhbGciOiJub25lIn0.eyJleHAiOi0xfQ.sig",      // {"exp":-1}
		"eyJhbGciOiJub25lIn0.eyJleHAiOjFlMzAwfQ.sig",  // {"exp":1e300}
		"eyJhbGciOiJub25lIn0.!!!.sig",
	} {
		if got, _ := unverifiedTimes(tok); !got.IsZero() {
			t.Errorf("unverifiedTimes(%q) = %v, want none", tok, got)
		}
	}
}

func TestIsJWS(t *testing.T) {
	t.Parallel()
	for tok, want := range map[string]bool{
		jwt("x"):                        true,
		"eyJhbGciOiJSUzI1NiJ9.e30.c2ln": true,  // {"alg":"RS256"}.{}
		"eyJhbGciOiJub25lIn0.e30.c2ln":  false, // alg none
		"eyJhbGciOiJOT05FIn0.e30.c2ln":  false, // alg NONE
		"e30.e30.c2ln":                  false, // no alg
		"eyJhbGciOiJSUzI1NiJ9.e30.":     false, // no signature
		"eyJhbGciOiJSUzI1NiJ9..c2ln":    false, // no payload
		"not.a.jwt":                     false,
		"opaque":                        false,
		"a.b.c.d":                       false,
	} {
		if got := isJWS(tok); got != want {
			t.Errorf("isJWS(%q) = %v, want %v", tok, got, want)
		}
	}
}

func FuzzUnverifiedTimes(f *testing.F) {
	f.Add("eyJhbGciOiJub25lIn0.eyJleHAiOjE3MDAwMDAwMDB9.sig")
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, tok string) {
		exp, iat := unverifiedTimes(tok)
		if exp.Before(time.Unix(0, 0)) && !exp.IsZero() || iat.Before(time.Unix(0, 0)) && !iat.IsZero() {
			t.Fatalf("negative time %v, %v", exp, iat)
		}
	})
}
