package authn

import (
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/cedar-policy/cedar-go/types"
	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
)

// SPIFFEOptions configures NewSPIFFE.
type SPIFFEOptions struct {
	// TrustDomain is the only trust domain callers may belong to. Required.
	TrustDomain spiffeid.TrustDomain
	// Bundle holds the trust domain's X.509 authorities: a static bundle
	// (LoadSPIFFEBundle, x509bundle.Load) or a rotating source such as a
	// workloadapi.X509Source. Required.
	Bundle x509bundle.Source
	// Principal maps a verified SPIFFE ID to the Cedar principal. Default
	// SPIFFEPrincipal.
	Principal func(spiffeid.ID) types.EntityUID
	// Now is the clock certificates are checked against. Default time.Now.
	Now func() time.Time
	// CacheTTL is how long a verified certificate chain is remembered
	// (never past its expiry), sparing the signature checks on later
	// requests; it is also how long a chain stays accepted after its CA left
	// the bundle. Default 1m; negative disables.
	CacheTTL time.Duration
	// CacheSize bounds the number of remembered chains. Default 10000.
	CacheSize int
}

func (o *SPIFFEOptions) setDefaults() {
	if o.CacheTTL == 0 {
		o.CacheTTL = time.Minute
	}
	if o.CacheSize <= 0 {
		o.CacheSize = 10000
	}
	if o.Principal == nil {
		o.Principal = SPIFFEPrincipal
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

func (o *SPIFFEOptions) check() error {
	if o.TrustDomain.IsZero() {
		return errors.New("spiffe: TrustDomain is required")
	}
	if o.Bundle == nil {
		return errors.New("spiffe: Bundle is required")
	}
	if _, err := o.Bundle.GetX509BundleForTrustDomain(o.TrustDomain); err != nil {
		return fmt.Errorf("spiffe: no X.509 bundle for trust domain %q: %w", o.TrustDomain, err)
	}
	return nil
}

// SPIFFE authenticates callers by the X.509-SVID they presented as their TLS
// client certificate. The chain is verified against the bundle on every
// request, so a server whose tls.Config checks nothing (or another CA) still
// cannot let an unverified certificate through; ServerTLSConfig additionally
// refuses bad certificates at the handshake.
type SPIFFE struct {
	opts  SPIFFEOptions
	cache *resultCache
}

var _ Authenticator = (*SPIFFE)(nil)

// NewSPIFFE returns a SPIFFE authenticator.
func NewSPIFFE(opts SPIFFEOptions) (*SPIFFE, error) {
	if err := opts.check(); err != nil {
		return nil, err
	}
	opts.setDefaults()
	return &SPIFFE{opts: opts, cache: newResultCache(opts.CacheSize)}, nil
}

// Authenticate returns the identity of the request's client certificate. It
// returns ErrNoCredentials for a request without TLS or without a client
// certificate, and an ErrUnauthenticated error for a certificate that is not
// a valid X.509-SVID of the trust domain (expired, unknown CA, other trust
// domain, no or several URI SANs, a CA certificate).
func (s *SPIFFE) Authenticate(r *http.Request) (*Identity, error) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return nil, ErrNoCredentials
	}
	now := s.opts.Now()
	h := sha256.New()
	for _, c := range r.TLS.PeerCertificates {
		h.Write(c.Raw)
	}
	var key tokenKey
	h.Sum(key[:0])
	if e, ok := s.cache.get(key, now); ok {
		return e.id.Clone(), nil
	}
	id, chain, err := verifySVID(r.TLS.PeerCertificates, s.opts.TrustDomain, s.opts.Bundle, now)
	if err != nil {
		return nil, err
	}
	leaf := chain[0]
	ident := &Identity{
		Kind:         KindSPIFFE,
		Principal:    s.opts.Principal(id),
		SPIFFEID:     id.String(),
		Username:     id.String(),
		CredentialID: leaf.SerialNumber.Text(16),
		IssuedAt:     leaf.NotBefore,
		Expiry:       leaf.NotAfter,
	}
	for _, c := range chain[1:] {
		if c.NotAfter.Before(ident.Expiry) {
			ident.Expiry = c.NotAfter
		}
	}
	if ns, sa, ok := kubernetesSPIFFEPath(id); ok {
		ident.Namespace, ident.ServiceAccount = ns, sa
	}
	if s.opts.CacheTTL > 0 {
		until := now.Add(s.opts.CacheTTL)
		if ident.Expiry.Before(until) {
			until = ident.Expiry
		}
		s.cache.put(cacheEntry{key: key, id: ident.Clone(), expires: until})
	}
	return ident, nil
}

// verifySVID checks that certs is an X.509-SVID chain of trust domain td
// that verifies against bundle at now, and returns its ID and one verified
// chain (leaf first).
func verifySVID(certs []*x509.Certificate, td spiffeid.TrustDomain, bundle x509bundle.Source, now time.Time) (spiffeid.ID, []*x509.Certificate, error) {
	id, err := x509svid.IDFromCert(certs[0])
	if err != nil {
		return spiffeid.ID{}, nil, unauthenticated("client certificate is not an X.509-SVID: %v", err)
	}
	if !id.MemberOf(td) {
		return spiffeid.ID{}, nil, unauthenticated("SPIFFE ID %s is not in trust domain %q", id, td)
	}
	id, chains, err := x509svid.Verify(certs, bundle, x509svid.WithTime(now))
	if err != nil {
		return spiffeid.ID{}, nil, unauthenticated("X.509-SVID %s: %v", id, err)
	}
	if len(chains) == 0 || len(chains[0]) == 0 {
		return spiffeid.ID{}, nil, unauthenticated("X.509-SVID %s: no verified chain", id)
	}
	return id, chains[0], nil
}

// SPIFFEPrincipal maps spiffe://<td>/ns/<ns>/sa/<sa> (the Kubernetes
// convention of SPIRE and Istio) to Agent::"<ns>/<sa>", the principal the
// same workload has with its ServiceAccount token, and any other SPIFFE ID
// to Agent::"<spiffe id>".
func SPIFFEPrincipal(id spiffeid.ID) types.EntityUID {
	if ns, sa, ok := kubernetesSPIFFEPath(id); ok {
		return AgentPrincipal(ns, sa)
	}
	return types.NewEntityUID(AgentType, types.String(id.String()))
}

// kubernetesSPIFFEPath splits the path /ns/<ns>/sa/<sa>.
func kubernetesSPIFFEPath(id spiffeid.ID) (ns, sa string, ok bool) {
	seg := strings.Split(strings.TrimPrefix(id.Path(), "/"), "/")
	if len(seg) != 4 || seg[0] != "ns" || seg[2] != "sa" || seg[1] == "" || seg[3] == "" {
		return "", "", false
	}
	return seg[1], seg[3], true
}

// LoadSPIFFEBundle parses a trust domain name (e.g. "example.org") and
// reads its X.509 authorities from a PEM file.
func LoadSPIFFEBundle(trustDomain, pemFile string) (spiffeid.TrustDomain, *x509bundle.Bundle, error) {
	td, err := spiffeid.TrustDomainFromString(trustDomain)
	if err != nil {
		return spiffeid.TrustDomain{}, nil, fmt.Errorf("spiffe trust domain %q: %w", trustDomain, err)
	}
	b, err := x509bundle.Load(td, pemFile)
	if err != nil {
		return spiffeid.TrustDomain{}, nil, fmt.Errorf("spiffe bundle %s: %w", pemFile, err)
	}
	if b.Empty() {
		return spiffeid.TrustDomain{}, nil, fmt.Errorf("spiffe bundle %s: no certificates", pemFile)
	}
	return td, b, nil
}
