package certrotator

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"time"
)

// material is the content of the Secret.
type material struct {
	caCert, caKey, cert, key, previousCA []byte
}

// Secret keys. tls.crt and tls.key are what a kubernetes.io/tls Secret holds,
// ca.crt what cert-manager writes, so tools that read either find them.
const (
	keyCACert     = "ca.crt"
	keyCAKey      = "ca.key"
	keyCert       = "tls.crt"
	keyKey        = "tls.key"
	keyPreviousCA = "ca-previous.crt"
)

func (m *material) fromData(d map[string][]byte) {
	m.caCert, m.caKey, m.cert, m.key, m.previousCA = d[keyCACert], d[keyCAKey], d[keyCert], d[keyKey], d[keyPreviousCA]
}

func (m *material) toData(d map[string][]byte) {
	d[keyCACert], d[keyCAKey], d[keyCert], d[keyKey] = m.caCert, m.caKey, m.cert, m.key
	if len(m.previousCA) > 0 {
		d[keyPreviousCA] = m.previousCA
	} else {
		delete(d, keyPreviousCA)
	}
}

// caBundle is the current CA followed by the previous one while it is still
// valid.
func (m *material) caBundle(now time.Time) []byte {
	out := slices.Clone(m.caCert)
	if prev, err := parseCert(m.previousCA); err == nil && now.Before(prev.NotAfter) {
		out = append(out, m.previousCA...)
	}
	return out
}

func parseCert(p []byte) (*x509.Certificate, error) {
	b, _ := pem.Decode(p)
	if b == nil || b.Type != "CERTIFICATE" {
		return nil, errors.New("no PEM certificate")
	}
	return x509.ParseCertificate(b.Bytes)
}

func parseKey(p []byte) (crypto.Signer, error) {
	b, _ := pem.Decode(p)
	if b == nil {
		return nil, errors.New("no PEM key")
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, err
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("key type %T cannot sign", k)
	}
	return s, nil
}

// fresh reports whether c is valid at now and has more than renewBefore left.
func fresh(c *x509.Certificate, now time.Time, renewBefore time.Duration) bool {
	return !now.Before(c.NotBefore) && now.Add(renewBefore).Before(c.NotAfter)
}

// validCA reports whether m holds a usable CA that need not be renewed yet.
func (m *material) validCA(now time.Time, renewBefore time.Duration) bool {
	c, err := parseCert(m.caCert)
	if err != nil || !c.IsCA || !fresh(c, now, renewBefore) {
		return false
	}
	k, err := parseKey(m.caKey)
	if err != nil {
		return false
	}
	pub, ok := k.Public().(interface{ Equal(crypto.PublicKey) bool })
	return ok && pub.Equal(c.PublicKey)
}

// validCert reports whether m's serving certificate chains to its CA, names
// every host, matches its key and need not be renewed yet.
func (m *material) validCert(now time.Time, renewBefore time.Duration, hosts []string) bool {
	ca, err := parseCert(m.caCert)
	if err != nil {
		return false
	}
	c, err := parseCert(m.cert)
	if err != nil || !fresh(c, now, renewBefore) {
		return false
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	for _, h := range hosts {
		if _, err := c.Verify(x509.VerifyOptions{DNSName: h, Roots: roots, CurrentTime: now,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
			return false
		}
	}
	k, err := parseKey(m.key)
	if err != nil {
		return false
	}
	pub, ok := k.Public().(interface{ Equal(crypto.PublicKey) bool })
	return ok && pub.Equal(c.PublicKey)
}

func serial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
}

func encode(der []byte, key crypto.Signer) (certPEM, keyPEM []byte, err error) {
	kd, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd}), nil
}

// newCA makes a self-signed ECDSA P-256 CA valid from now-1h (clock skew)
// for validity.
func newCA(now time.Time, validity time.Duration, name string) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	sn, err := serial()
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          sn,
		Subject:               pkix.Name{CommonName: name, Organization: []string{"agentguard"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	return encode(der, key)
}

// newServing issues a serving certificate for hosts from the CA in m, never
// outliving the CA.
func newServing(m *material, now time.Time, validity time.Duration, hosts []string) (certPEM, keyPEM []byte, err error) {
	ca, err := parseCert(m.caCert)
	if err != nil {
		return nil, nil, fmt.Errorf("CA certificate: %w", err)
	}
	caKey, err := parseKey(m.caKey)
	if err != nil {
		return nil, nil, fmt.Errorf("CA key: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	sn, err := serial()
	if err != nil {
		return nil, nil, err
	}
	notAfter := now.Add(validity)
	if notAfter.After(ca.NotAfter) {
		notAfter = ca.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: sn,
		Subject:      pkix.Name{CommonName: hosts[0]},
		DNSNames:     hosts,
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, nil, err
	}
	return encode(der, key)
}

func equalBytes(a, b []byte) bool { return bytes.Equal(a, b) }
