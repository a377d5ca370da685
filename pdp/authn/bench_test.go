package authn

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// BenchmarkTokenReviewCached is the per-request cost once a token is
// cached: hashing it and a map lookup.
func BenchmarkTokenReviewCached(b *testing.B) {
	f := &fakeAPIServer{}
	f.set(jwt("tok"), saStatus("ns", "sa", nil))
	a, err := NewTokenReview(TokenReviewOptions{Client: f.client().AuthenticationV1().TokenReviews(), Audience: testAudience, AllowUnboundTokens: true})
	if err != nil {
		b.Fatal(err)
	}
	r := bearerRequest(jwt("tok"))
	if _, err := a.Authenticate(r); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.Authenticate(r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkStaticTokens(b *testing.B) {
	for _, n := range []int{10, 1000} {
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			var sb strings.Builder
			for i := range n {
				fmt.Fprintf(&sb, "- {sha256: %s, principal: {type: Agent, id: ns/sa%d}}\n", HashToken(fmt.Sprint("tok", i)), i)
			}
			st, err := ParseStaticTokens([]byte(sb.String()))
			if err != nil {
				b.Fatal(err)
			}
			r := bearerRequest(fmt.Sprint("tok", n-1))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := st.Authenticate(r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSPIFFE is the per-request check of the client certificate chain:
// a cache lookup, or a full chain verification.
func BenchmarkSPIFFE(b *testing.B) {
	td := spiffeid.RequireTrustDomainFromString("example.org")
	ca := newCA(b, "example.org")
	svid := ca.svid(b, "spiffe://example.org/ns/a/sa/b")
	for name, ttl := range map[string]time.Duration{"cached": 0, "uncached": -1} {
		b.Run(name, func(b *testing.B) {
			sp, err := NewSPIFFE(SPIFFEOptions{TrustDomain: td, Bundle: x509bundle.FromX509Authorities(td, []*x509.Certificate{ca.cert}), CacheTTL: ttl})
			if err != nil {
				b.Fatal(err)
			}
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{svid.Leaf}}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := sp.Authenticate(r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
