package authn

import (
	"crypto/tls"
	"errors"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
)

// TLSOptions configures ServerTLSConfig.
type TLSOptions struct {
	// TrustDomain is the only trust domain client SVIDs may belong to.
	// Required.
	TrustDomain spiffeid.TrustDomain
	// Bundle holds the trust domain's X.509 authorities. Required.
	Bundle x509bundle.Source
	// Certificate is the server's own certificate (an ordinary web
	// certificate). Exactly one of Certificate and SVID is required.
	Certificate *tls.Certificate
	// SVID serves the server's own X.509-SVID, e.g. a
	// workloadapi.X509Source, which rotates it.
	SVID x509svid.Source
	// ClientCertOptional lets clients connect without a certificate, so that
	// they can authenticate with a bearer token on the same port; a
	// certificate that is presented must still be a valid SVID of
	// TrustDomain. Default false: a client certificate is required.
	ClientCertOptional bool
	// Now is the clock certificates are checked against. Default time.Now.
	Now func() time.Time
}

// ServerTLSConfig returns a server tls.Config (TLS 1.2 or later) that asks
// for a client certificate and, in VerifyConnection (which also runs for
// resumed sessions), refuses any that is not an X.509-SVID of the trust
// domain that verifies against the bundle. Use it with SPIFFE, which checks
// the certificate again per request and turns it into an Identity.
func ServerTLSConfig(opts TLSOptions) (*tls.Config, error) {
	so := SPIFFEOptions{TrustDomain: opts.TrustDomain, Bundle: opts.Bundle, Now: opts.Now}
	if err := so.check(); err != nil {
		return nil, err
	}
	so.setDefaults()
	if (opts.Certificate == nil) == (opts.SVID == nil) {
		return nil, errors.New("server tls config: exactly one of Certificate and SVID is required")
	}
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS12,
		ClientAuth: tls.RequireAnyClientCert,
	}
	if opts.ClientCertOptional {
		cfg.ClientAuth = tls.RequestClientCert
	}
	if opts.Certificate != nil {
		cfg.Certificates = []tls.Certificate{*opts.Certificate}
	} else {
		cfg.GetCertificate = tlsconfig.GetCertificate(opts.SVID)
	}
	// Go does not verify client certificates under RequireAnyClientCert and
	// RequestClientCert; this does, against the SPIFFE bundle.
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			if opts.ClientCertOptional {
				return nil
			}
			return errors.New("client certificate required")
		}
		_, _, err := verifySVID(cs.PeerCertificates, so.TrustDomain, so.Bundle, so.Now())
		return err
	}
	return cfg, nil
}
