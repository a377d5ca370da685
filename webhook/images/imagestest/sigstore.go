package imagestest

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protodsse "github.com/sigstore/protobuf-specs/gen/pb-go/dsse"
	rekorv1 "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/sign"
	"github.com/sigstore/sigstore-go/pkg/testing/ca"
	"github.com/sigstore/sigstore-go/pkg/tlog"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"google.golang.org/protobuf/encoding/protojson"
)

// Statement is the in-toto Statement cosign v3 signs for an image.
func Statement(ref, digest string) []byte {
	algo, hexd, _ := strings.Cut(digest, ":")
	return []byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"` + ref + `","digest":{"` + algo + `":"` +
		hexd + `"}}],"predicateType":"https://sigstore.dev/cosign/sign/v1","predicate":{}}`)
}

// keypair is a sign.Keypair over a key the test holds.
type keypair struct{ k *ecdsa.PrivateKey }

func (kp keypair) GetHashAlgorithm() protocommon.HashAlgorithm {
	return protocommon.HashAlgorithm_SHA2_256
}
func (kp keypair) GetSigningAlgorithm() protocommon.PublicKeyDetails {
	return protocommon.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256
}
func (kp keypair) GetHint() []byte {
	der, _ := x509.MarshalPKIXPublicKey(kp.k.Public())
	s := sha256.Sum256(der)
	return []byte(base64.StdEncoding.EncodeToString(s[:]))
}
func (kp keypair) GetKeyAlgorithm() string        { return "ECDSA" }
func (kp keypair) GetPublicKey() crypto.PublicKey { return kp.k.Public() }
func (kp keypair) GetPublicKeyPem() (string, error) {
	b, err := cryptoutils.MarshalPublicKeyToPEM(kp.k.Public())
	return string(b), err
}
func (kp keypair) SignData(_ context.Context, data []byte) ([]byte, []byte, error) {
	sum := sha256.Sum256(data)
	sig, err := kp.k.Sign(rand.Reader, sum[:], crypto.SHA256)
	return sig, sum[:], err
}

// certProvider hands out a fixed certificate (from a virtual Fulcio).
type certProvider struct{ der []byte }

func (c certProvider) GetCertificate(context.Context, sign.Keypair, *sign.CertificateProviderOptions) ([]byte, error) {
	return c.der, nil
}

// KeyBundle returns a Sigstore bundle (JSON) signing the cosign Statement
// for claimDigest with key, as `cosign sign --new-bundle-format
// --tlog-upload=false --key` does.
func KeyBundle(t testing.TB, key *ecdsa.PrivateKey, ref, claimDigest string) []byte {
	t.Helper()
	pb, err := sign.Bundle(&sign.DSSEData{Data: Statement(ref, claimDigest), PayloadType: "application/vnd.in-toto+json"},
		keypair{key}, sign.BundleOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return marshalBundle(t, pb)
}

// KeylessBundle returns a Sigstore bundle signed with a certificate from
// the virtual Sigstore for identity/issuer, timestamped by its TSA.
func KeylessBundle(t testing.TB, vs *ca.VirtualSigstore, identity, issuer, ref, claimDigest string) []byte {
	t.Helper()
	cert, priv, err := vs.GenerateLeafCert(identity, issuer)
	if err != nil {
		t.Fatal(err)
	}
	return CertBundle(t, vs, cert, priv.(*ecdsa.PrivateKey), ref, claimDigest)
}

// CertBundle returns a Sigstore bundle signed with priv and carrying cert,
// timestamped now by the virtual Sigstore's TSA.
func CertBundle(t testing.TB, vs *ca.VirtualSigstore, cert *x509.Certificate, priv *ecdsa.PrivateKey, ref, claimDigest string) []byte {
	t.Helper()
	pb, err := sign.Bundle(&sign.DSSEData{Data: Statement(ref, claimDigest), PayloadType: "application/vnd.in-toto+json"},
		keypair{priv}, sign.BundleOptions{CertificateProvider: certProvider{cert.Raw}})
	if err != nil {
		t.Fatal(err)
	}
	sig := pb.GetDsseEnvelope().GetSignatures()[0].GetSig()
	ts, err := vs.TimestampResponse(sig)
	if err != nil {
		t.Fatal(err)
	}
	pb.VerificationMaterial.TimestampVerificationData = &protobundle.TimestampVerificationData{
		Rfc3161Timestamps: []*protocommon.RFC3161SignedTimestamp{{SignedTimestamp: ts}},
	}
	return marshalBundle(t, pb)
}

// ExpiredCert returns a trusted root (a fresh Fulcio CA plus the virtual
// Sigstore's TSA) and a certificate from that CA for identity/issuer that
// expired before now, with its key.
func ExpiredCert(t testing.TB, vs *ca.VirtualSigstore, identity, issuer string) (trustedRoot []byte, cert *x509.Certificate, priv *ecdsa.PrivateKey) {
	t.Helper()
	rootCert, rootKey, err := ca.GenerateRootCa()
	if err != nil {
		t.Fatal(err)
	}
	interCert, interKey, err := ca.GenerateFulcioIntermediate(rootCert, rootKey)
	if err != nil {
		t.Fatal(err)
	}
	priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	// Valid from 1h ago for 10 minutes.
	cert, err = ca.GenerateLeafCert(identity, issuer, time.Now().Add(-time.Hour), priv, interCert, interKey)
	if err != nil {
		t.Fatal(err)
	}
	fulcio := &root.FulcioCertificateAuthority{Root: rootCert, Intermediates: []*x509.Certificate{interCert},
		ValidityPeriodStart: time.Now().Add(-5 * time.Hour), ValidityPeriodEnd: time.Now().Add(time.Hour), URI: "https://expired.fulcio.test"}
	tr, err := root.NewTrustedRoot(root.TrustedRootMediaType01, []root.CertificateAuthority{fulcio}, nil, vs.TimestampingAuthorities(), nil)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := tr.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return raw, cert, priv
}

func marshalBundle(t testing.TB, pb *protobundle.Bundle) []byte {
	t.Helper()
	raw, err := protojson.Marshal(pb)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// TrustedRootJSON serializes the virtual Sigstore's trust anchors as a
// trusted_root.json.
func TrustedRootJSON(t testing.TB, vs *ca.VirtualSigstore) []byte {
	t.Helper()
	// The virtual Sigstore keys its logs by hex log ID but sets ID to the
	// hex string's bytes; a trusted_root.json carries the raw key ID.
	fix := func(logs map[string]*root.TransparencyLog) map[string]*root.TransparencyLog {
		for id, l := range logs {
			raw, err := hex.DecodeString(id)
			if err != nil {
				t.Fatal(err)
			}
			l.ID = raw
		}
		return logs
	}
	tr, err := root.NewTrustedRoot(root.TrustedRootMediaType01, vs.FulcioCertificateAuthorities(), fix(vs.CTLogs()),
		vs.TimestampingAuthorities(), fix(vs.RekorLogs()))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := tr.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// KeylessTlogBundle returns a Sigstore bundle as cosign v3 writes it against
// a public Sigstore: a DSSE envelope signed with a certificate from the
// virtual Fulcio, and a Rekor entry with inclusion proof and signed entry
// timestamp (no RFC 3161 timestamp), so the log's integrated time is the
// observer timestamp.
func KeylessTlogBundle(t testing.TB, vs *ca.VirtualSigstore, identity, issuer, ref, claimDigest string) []byte {
	t.Helper()
	ent, err := vs.AttestAtTime(identity, issuer, Statement(ref, claimDigest), time.Now().Add(5*time.Minute), true)
	if err != nil {
		t.Fatal(err)
	}
	vc, err := ent.VerificationContent()
	if err != nil {
		t.Fatal(err)
	}
	sc, err := ent.SignatureContent()
	if err != nil {
		t.Fatal(err)
	}
	env := sc.EnvelopeContent().RawEnvelope()
	payload, err := base64.StdEncoding.DecodeString(env.Payload)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := base64.StdEncoding.DecodeString(env.Signatures[0].Sig)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := ent.TlogEntries()
	if err != nil || len(entries) != 1 {
		t.Fatalf("tlog entries: %v", err)
	}
	tle := entries[0].TransparencyLogEntry()
	set, err := vs.RekorSignPayload(tlog.RekorPayload{
		Body:           base64.StdEncoding.EncodeToString(tle.GetCanonicalizedBody()),
		IntegratedTime: tle.GetIntegratedTime(),
		LogIndex:       tle.GetLogIndex(),
		LogID:          hex.EncodeToString(tle.GetLogId().GetKeyId()),
	})
	if err != nil {
		t.Fatal(err)
	}
	tle.KindVersion = &rekorv1.KindVersion{Kind: "dsse", Version: "0.0.1"}
	tle.InclusionPromise = &rekorv1.InclusionPromise{SignedEntryTimestamp: set}
	pb := &protobundle.Bundle{
		MediaType: "application/vnd.dev.sigstore.bundle.v0.3+json",
		VerificationMaterial: &protobundle.VerificationMaterial{
			Content:     &protobundle.VerificationMaterial_Certificate{Certificate: &protocommon.X509Certificate{RawBytes: vc.Certificate().Raw}},
			TlogEntries: []*rekorv1.TransparencyLogEntry{tle},
		},
		Content: &protobundle.Bundle_DsseEnvelope{DsseEnvelope: &protodsse.Envelope{
			Payload: payload, PayloadType: env.PayloadType, Signatures: []*protodsse.Signature{{Sig: sig}},
		}},
	}
	return marshalBundle(t, pb)
}
