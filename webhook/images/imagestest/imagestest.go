// Package imagestest provides an in-process OCI registry and cosign-format
// signing for tests of image verification: classic ".sig" signatures,
// Sigstore bundles as OCI 1.1 referrers (key and keyless, the latter from
// sigstore-go's virtual Sigstore), with real keys and real crypto.
package imagestest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"log"
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
	"github.com/sigstore/sigstore-go/pkg/testing/ca"
	"github.com/sigstore/sigstore-go/pkg/tlog"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
)

// Registry is an in-process OCI registry (ggcr) on 127.0.0.1 that
// counts requests, can be taken down, and can require basic auth.
type Registry struct {
	srv *httptest.Server
	// Host is the registry's host:port, the start of image references.
	Host string
	// Requests counts the requests served since the last Reset.
	Requests atomic.Int64
	// Down, when set, makes every request fail with 503.
	Down atomic.Bool
	// User and Pass, when User is set, are the required basic-auth
	// credentials.
	User, Pass string

	mu  sync.Mutex
	log []string
}

// NewRegistry starts an anonymous registry, closed when the test ends.
func NewRegistry(t testing.TB) *Registry {
	t.Helper()
	return NewRegistryWithAuth(t, "", "")
}

// NewRegistryWithAuth is NewRegistry requiring HTTP basic auth with user and
// pass (when user is not empty) on every request, like a private registry.
func NewRegistryWithAuth(t testing.TB, user, pass string) *Registry {
	t.Helper()
	r := &Registry{User: user, Pass: pass}
	h := registry.New(registry.WithReferrersSupport(true), registry.Logger(log.New(io.Discard, "", 0)))
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if r.Down.Load() {
			http.Error(w, "registry is down", http.StatusServiceUnavailable)
			return
		}
		if r.User != "" {
			u, p, ok := req.BasicAuth()
			if !ok || u != r.User || p != r.Pass {
				w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
		}
		r.Requests.Add(1)
		r.mu.Lock()
		r.log = append(r.log, req.Method+" "+req.URL.Path)
		r.mu.Unlock()
		h.ServeHTTP(w, req)
	}))
	t.Cleanup(r.srv.Close)
	r.Host = strings.TrimPrefix(r.srv.URL, "http://")
	return r
}

// Reset zeroes the request counter and log.
func (r *Registry) Reset() {
	r.Requests.Store(0)
	r.mu.Lock()
	r.log = nil
	r.mu.Unlock()
}

// RequestLog returns "METHOD path" of the requests since the last Reset.
func (r *Registry) RequestLog() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.log...)
}

// WriteOpts are the options the test uses to push (with the registry's
// credentials when it has some).
func (r *Registry) WriteOpts() []remote.Option {
	if r.User == "" {
		return nil
	}
	return []remote.Option{remote.WithAuth(&authn.Basic{Username: r.User, Password: r.Pass})}
}

// PushImage pushes a random image under repo:tag and returns its digest.
func (r *Registry) PushImage(t testing.TB, repo, tag string) string {
	t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(r.Host + "/" + repo + ":" + tag)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, r.WriteOpts()...); err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

// NewKey returns a fresh ECDSA P-256 key and its PEM public key.
func NewKey(t testing.TB) (*ecdsa.PrivateKey, string) {
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

// SimpleSigningPayload is what `cosign sign` signs in the classic format.
func SimpleSigningPayload(ref, digest string) []byte {
	return []byte(`{"critical":{"identity":{"docker-reference":"` + ref + `"},"image":{"docker-manifest-digest":"` +
		digest + `"},"type":"cosign container image signature"},"optional":null}`)
}

// SignClassic stores a classic cosign signature of claimDigest, made with
// key, at the .sig tag of repo@digest, as `cosign sign` (v2) does.
func (r *Registry) SignClassic(t testing.TB, repo, digest, claimDigest string, key crypto.Signer) {
	t.Helper()
	payload := SimpleSigningPayload(r.Host+"/"+repo, claimDigest)
	sum := sha256.Sum256(payload)
	sig, err := key.Sign(rand.Reader, sum[:], crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	r.PutClassic(t, repo, digest, payload, base64.StdEncoding.EncodeToString(sig))
}

// PutClassic stores a classic signature (payload and base64 signature) at
// the .sig tag of repo@digest.
func (r *Registry) PutClassic(t testing.TB, repo, digest string, payload []byte, sig string) {
	t.Helper()
	r.PutClassicAnnotated(t, repo, digest, payload, map[string]string{"dev.cosignproject.cosign/signature": sig})
}

// PutClassicAnnotated stores a classic signature layer with the given
// annotations (signature, certificate, Rekor bundle, ...) at the .sig tag of
// repo@digest.
func (r *Registry) PutClassicAnnotated(t testing.TB, repo, digest string, payload []byte, annotations map[string]string) {
	t.Helper()
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err := mutate.Append(img, mutate.Addendum{
		Layer:       static.NewLayer(payload, "application/vnd.dev.cosign.simplesigning.v1+json"),
		Annotations: annotations,
	})
	if err != nil {
		t.Fatal(err)
	}
	d, err := name.NewDigest(r.Host + "/" + repo + "@" + digest)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(SigTag(d), img, r.WriteOpts()...); err != nil {
		t.Fatal(err)
	}
}

// SignClassicKeyless stores a classic keyless signature of claimDigest at
// the .sig tag of repo@digest, as cosign v2's keyless `cosign sign` does:
// a certificate from the virtual Sigstore's Fulcio for identity/issuer, and
// the Rekor entry with its signed entry timestamp.
func (r *Registry) SignClassicKeyless(t testing.TB, vs *ca.VirtualSigstore, repo, digest, claimDigest, identity, issuer string) {
	t.Helper()
	payload := SimpleSigningPayload(r.Host+"/"+repo, claimDigest)
	ent, err := vs.Sign(identity, issuer, payload)
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
	entries, err := ent.TlogEntries()
	if err != nil || len(entries) != 1 {
		t.Fatalf("tlog entries: %v", err)
	}
	tle := entries[0].TransparencyLogEntry()
	certPEM, err := cryptoutils.MarshalCertificateToPEM(vc.Certificate())
	if err != nil {
		t.Fatal(err)
	}
	// The entry's signed entry timestamp is not exported; sign the same
	// payload again with the virtual Rekor's key.
	set, err := vs.RekorSignPayload(tlog.RekorPayload{
		Body:           base64.StdEncoding.EncodeToString(tle.GetCanonicalizedBody()),
		IntegratedTime: tle.GetIntegratedTime(),
		LogIndex:       tle.GetLogIndex(),
		LogID:          hex.EncodeToString(tle.GetLogId().GetKeyId()),
	})
	if err != nil {
		t.Fatal(err)
	}
	rekor, err := json.Marshal(map[string]any{
		"SignedEntryTimestamp": set,
		"Payload": map[string]any{
			"body":           base64.StdEncoding.EncodeToString(tle.GetCanonicalizedBody()),
			"integratedTime": tle.GetIntegratedTime(),
			"logIndex":       tle.GetLogIndex(),
			"logID":          hex.EncodeToString(tle.GetLogId().GetKeyId()),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	r.PutClassicAnnotated(t, repo, digest, payload, map[string]string{
		"dev.cosignproject.cosign/signature": base64.StdEncoding.EncodeToString(sc.MessageSignatureContent().Signature()),
		"dev.sigstore.cosign/certificate":    string(certPEM),
		"dev.sigstore.cosign/bundle":         string(rekor),
	})
}

// CopyClassic copies the .sig manifest of one image to another's .sig tag.
func (r *Registry) CopyClassic(t testing.TB, repo, fromDigest, toDigest string) {
	t.Helper()
	from, _ := name.NewDigest(r.Host + "/" + repo + "@" + fromDigest)
	to, _ := name.NewDigest(r.Host + "/" + repo + "@" + toDigest)
	img, err := remote.Image(SigTag(from), r.WriteOpts()...)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(SigTag(to), img, r.WriteOpts()...); err != nil {
		t.Fatal(err)
	}
}

// AttachBundle stores a Sigstore bundle as an OCI 1.1 referrer of
// repo@digest, as cosign v3 does.
func (r *Registry) AttachBundle(t testing.TB, repo, digest string, bundleJSON []byte) {
	t.Helper()
	subjRef, err := name.NewDigest(r.Host + "/" + repo + "@" + digest)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Head(subjRef, r.WriteOpts()...)
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
	if err := remote.Write(subjRef.Context().Digest(d.String()), img, r.WriteOpts()...); err != nil {
		t.Fatal(err)
	}
}

// SigTag is where cosign stores classic signatures for d.
func SigTag(d name.Digest) name.Tag {
	return d.Context().Tag(strings.Replace(d.DigestStr(), ":", "-", 1) + ".sig")
}

// PushImageWithMetadata pushes a random image with the given manifest
// annotations and config labels under repo:tag and returns its digest.
func (r *Registry) PushImageWithMetadata(t testing.TB, repo, tag string, annotations, labels map[string]string) string {
	t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cfg = cfg.DeepCopy()
	cfg.Config.Labels = labels
	if img, err = mutate.ConfigFile(img, cfg); err != nil {
		t.Fatal(err)
	}
	if len(annotations) > 0 {
		img = mutate.Annotations(img, annotations).(v1.Image)
	}
	ref, err := name.ParseReference(r.Host + "/" + repo + ":" + tag)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, r.WriteOpts()...); err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}
