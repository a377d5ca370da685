package images

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/sign"
	"github.com/sigstore/sigstore-go/pkg/testing/ca"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"google.golang.org/protobuf/encoding/protojson"
)

// testRegistry is an in-process OCI registry (ggcr) on 127.0.0.1 that
// counts requests, can be taken down, and can require basic auth.
type testRegistry struct {
	srv      *httptest.Server
	host     string
	requests atomic.Int64
	down     atomic.Bool
	mu       sync.Mutex
	log      []string
	user     string
	pass     string
}

func newTestRegistry(t testing.TB) *testRegistry {
	t.Helper()
	r := &testRegistry{}
	h := registry.New(registry.WithReferrersSupport(true))
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if r.down.Load() {
			http.Error(w, "registry is down", http.StatusServiceUnavailable)
			return
		}
		if r.user != "" {
			u, p, ok := req.BasicAuth()
			if !ok || u != r.user || p != r.pass {
				w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
		}
		r.requests.Add(1)
		r.mu.Lock()
		r.log = append(r.log, req.Method+" "+req.URL.Path)
		r.mu.Unlock()
		h.ServeHTTP(w, req)
	}))
	t.Cleanup(r.srv.Close)
	r.host = strings.TrimPrefix(r.srv.URL, "http://")
	return r
}

func (r *testRegistry) reset() {
	r.requests.Store(0)
	r.mu.Lock()
	r.log = nil
	r.mu.Unlock()
}

func (r *testRegistry) requestLog() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.log...)
}

// writeOpts are the options the test uses to push (with the registry's
// credentials when it has some).
func (r *testRegistry) writeOpts() []remote.Option {
	if r.user == "" {
		return nil
	}
	return []remote.Option{remote.WithAuth(&authn.Basic{Username: r.user, Password: r.pass})}
}

// pushImage pushes a random image under repo:tag and returns its digest.
func (r *testRegistry) pushImage(t testing.TB, repo, tag string) string {
	t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(r.host + "/" + repo + ":" + tag)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, r.writeOpts()...); err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

// newKey returns a fresh ECDSA P-256 key and its PEM public key.
func newKey(t testing.TB) (*ecdsa.PrivateKey, string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pemKey, err := cryptoutils.MarshalPublicKeyToPEM(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	return k, string(pemKey)
}

// simpleSigningPayload is what `cosign sign` signs in the classic format.
func simpleSigningPayload(ref, digest string) []byte {
	return []byte(`{"critical":{"identity":{"docker-reference":"` + ref + `"},"image":{"docker-manifest-digest":"` +
		digest + `"},"type":"cosign container image signature"},"optional":null}`)
}

// signClassic stores a classic cosign signature of claimDigest, made with
// key, at the .sig tag of repo@digest, as `cosign sign` (v2) does.
func (r *testRegistry) signClassic(t testing.TB, repo, digest, claimDigest string, key crypto.Signer) {
	t.Helper()
	payload := simpleSigningPayload(r.host+"/"+repo, claimDigest)
	sum := sha256.Sum256(payload)
	sig, err := key.Sign(rand.Reader, sum[:], crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	r.putClassic(t, repo, digest, payload, base64.StdEncoding.EncodeToString(sig))
}

func (r *testRegistry) putClassic(t testing.TB, repo, digest string, payload []byte, sig string) {
	t.Helper()
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err := mutate.Append(img, mutate.Addendum{
		Layer:       static.NewLayer(payload, mediaTypeSimpleSigning),
		Annotations: map[string]string{annotationSignature: sig},
	})
	if err != nil {
		t.Fatal(err)
	}
	d, err := name.NewDigest(r.host + "/" + repo + "@" + digest)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(classicTag(d), img, r.writeOpts()...); err != nil {
		t.Fatal(err)
	}
}

// copyClassic copies the .sig manifest of one image to another's .sig tag.
func (r *testRegistry) copyClassic(t testing.TB, repo, fromDigest, toDigest string) {
	t.Helper()
	from, _ := name.NewDigest(r.host + "/" + repo + "@" + fromDigest)
	to, _ := name.NewDigest(r.host + "/" + repo + "@" + toDigest)
	img, err := remote.Image(classicTag(from), r.writeOpts()...)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(classicTag(to), img, r.writeOpts()...); err != nil {
		t.Fatal(err)
	}
}

// statement is the in-toto statement cosign v3 signs for an image.
func statement(ref, digest string) []byte {
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

// keyBundle returns a Sigstore bundle (JSON) signing the cosign statement
// for claimDigest with key, as `cosign sign --new-bundle-format
// --tlog-upload=false --key` does.
func keyBundle(t testing.TB, key *ecdsa.PrivateKey, ref, claimDigest string) []byte {
	t.Helper()
	pb, err := sign.Bundle(&sign.DSSEData{Data: statement(ref, claimDigest), PayloadType: "application/vnd.in-toto+json"},
		keypair{key}, sign.BundleOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return marshalBundle(t, pb)
}

// keylessBundle returns a Sigstore bundle signed with a certificate from
// the virtual Sigstore for identity/issuer, timestamped by its TSA.
func keylessBundle(t testing.TB, vs *ca.VirtualSigstore, identity, issuer, ref, claimDigest string) []byte {
	t.Helper()
	cert, priv, err := vs.GenerateLeafCert(identity, issuer)
	if err != nil {
		t.Fatal(err)
	}
	pb, err := sign.Bundle(&sign.DSSEData{Data: statement(ref, claimDigest), PayloadType: "application/vnd.in-toto+json"},
		keypair{priv.(*ecdsa.PrivateKey)}, sign.BundleOptions{CertificateProvider: certProvider{cert.Raw}})
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

func marshalBundle(t testing.TB, pb *protobundle.Bundle) []byte {
	t.Helper()
	raw, err := protojson.Marshal(pb)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// trustedRootJSON serializes the virtual Sigstore's trust anchors as a
// trusted_root.json.
func trustedRootJSON(t testing.TB, vs *ca.VirtualSigstore) []byte {
	t.Helper()
	tr, err := root.NewTrustedRoot(root.TrustedRootMediaType01, vs.FulcioCertificateAuthorities(), vs.CTLogs(),
		vs.TimestampingAuthorities(), vs.RekorLogs())
	if err != nil {
		t.Fatal(err)
	}
	raw, err := tr.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// attachBundle stores a Sigstore bundle as an OCI 1.1 referrer of
// repo@digest, as cosign v3 does.
func (r *testRegistry) attachBundle(t testing.TB, repo, digest string, bundleJSON []byte) {
	t.Helper()
	subjRef, err := name.NewDigest(r.host + "/" + repo + "@" + digest)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Head(subjRef, r.writeOpts()...)
	if err != nil {
		t.Fatal(err)
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, "application/vnd.oci.empty.v1+json")
	img, err = mutate.Append(img, mutate.Addendum{
		Layer: static.NewLayer(bundleJSON, "application/vnd.dev.sigstore.bundle.v0.3+json"),
	})
	if err != nil {
		t.Fatal(err)
	}
	img = mutate.Subject(img, v1.Descriptor{MediaType: desc.MediaType, Digest: desc.Digest, Size: desc.Size}).(v1.Image)
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(subjRef.Context().Digest(d.String()), img, r.writeOpts()...); err != nil {
		t.Fatal(err)
	}
}

// policyDoc renders an images.yaml with one policy over the registry's
// "signed/**" repositories.
func policyDoc(host string, authorities string, extra string) string {
	return `apiVersion: agentguard.io/v1alpha1
kind: ImagePolicy
` + extra + `
policies:
- name: test
  images: ["` + host + `/signed/**"]
  authorities:
` + authorities
}

func keyAuthority(name, pemKey string) string {
	var b strings.Builder
	b.WriteString("  - name: " + name + "\n    key:\n      pem: |\n")
	for _, l := range strings.Split(strings.TrimSpace(pemKey), "\n") {
		b.WriteString("        " + l + "\n")
	}
	return b.String()
}

func mustParse(t testing.TB, doc string, files map[string][]byte) *Policy {
	t.Helper()
	p, err := Parse([]byte(doc), func(n string) ([]byte, error) {
		if b, ok := files[n]; ok {
			return b, nil
		}
		return nil, errNoFile
	})
	if err != nil {
		t.Fatalf("Parse: %v\n%s", err, doc)
	}
	return p
}

var errNoFile = &json.UnsupportedValueError{Str: "no such file"}

func newTestVerifier(t testing.TB, opts Options) *Verifier {
	t.Helper()
	v, err := NewVerifier(opts)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
