package images

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/sigstore/sigstore-go/pkg/testing/ca"
	corev1 "k8s.io/api/core/v1"

	"github.com/agentguard/agentguard/webhook/images/imagestest"
)

func TestVerifyClassicAndBundle(t *testing.T) {
	t.Parallel()
	reg := imagestest.NewRegistry(t)
	key, pemKey := imagestest.NewKey(t)
	otherKey, _ := imagestest.NewKey(t)
	vs, err := ca.NewVirtualSigstore()
	if err != nil {
		t.Fatal(err)
	}
	const (
		identity = "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1"
		issuer   = "https://token.actions.githubusercontent.com"
	)
	doc := policyDoc(reg.Host, keyAuthority("release-key", pemKey)+`  - name: ci
    keyless:
      subjectRegExp: ^https://github\.com/acme/app/\.github/workflows/release\.yml@refs/tags/
      issuer: `+issuer+"\n", "trustedRoot: trusted_root.json\nunmatched: deny")
	p := mustParse(t, doc, map[string][]byte{"trusted_root.json": imagestest.TrustedRootJSON(t, vs)})

	type setup func(repo, digest string)
	cases := []struct {
		name        string
		setup       setup
		byTag       bool
		wantOutcome Outcome
		wantReason  string
		wantAuth    string
	}{
		{name: "classic signed by key", setup: func(repo, d string) { reg.SignClassic(t, repo, d, d, key) },
			wantOutcome: Verified, wantAuth: "test/release-key"},
		{name: "classic signed by key, by tag", byTag: true, setup: func(repo, d string) { reg.SignClassic(t, repo, d, d, key) },
			wantOutcome: Verified, wantAuth: "test/release-key"},
		{name: "unsigned", setup: func(string, string) {}, wantOutcome: Failed, wantReason: "no signatures found"},
		{name: "classic wrong key", setup: func(repo, d string) { reg.SignClassic(t, repo, d, d, otherKey) },
			wantOutcome: Failed, wantReason: "signature does not match"},
		{name: "classic signature copied from another image", setup: func(repo, d string) {
			other := reg.PushImage(t, repo, "other")
			reg.SignClassic(t, repo, other, other, key)
			reg.CopyClassic(t, repo, other, d)
		}, wantOutcome: Failed, wantReason: "copied from another image"},
		{name: "bundle signed by key", setup: func(repo, d string) {
			reg.AttachBundle(t, repo, d, imagestest.KeyBundle(t, key, reg.Host+"/"+repo, d))
		}, wantOutcome: Verified, wantAuth: "test/release-key"},
		{name: "bundle wrong key", setup: func(repo, d string) {
			reg.AttachBundle(t, repo, d, imagestest.KeyBundle(t, otherKey, reg.Host+"/"+repo, d))
		}, wantOutcome: Failed, wantReason: "signature does not match"},
		{name: "bundle for another digest", setup: func(repo, d string) {
			other := reg.PushImage(t, repo, "other")
			reg.AttachBundle(t, repo, d, imagestest.KeyBundle(t, key, reg.Host+"/"+repo, other))
		}, wantOutcome: Failed, wantReason: "authority ci"},
		{name: "keyless good identity", setup: func(repo, d string) {
			reg.AttachBundle(t, repo, d, imagestest.KeylessBundle(t, vs, identity, issuer, reg.Host+"/"+repo, d))
		}, wantOutcome: Verified, wantAuth: "test/ci"},
		{name: "keyless wrong identity", setup: func(repo, d string) {
			reg.AttachBundle(t, repo, d, imagestest.KeylessBundle(t, vs, "https://github.com/evil/app/.github/workflows/x.yml@refs/heads/main", issuer, reg.Host+"/"+repo, d))
		}, wantOutcome: Failed, wantReason: "authority ci"},
		{name: "keyless bundle with Rekor entry", setup: func(repo, d string) {
			reg.AttachBundle(t, repo, d, imagestest.KeylessTlogBundle(t, vs, identity, issuer, reg.Host+"/"+repo, d))
		}, wantOutcome: Verified, wantAuth: "test/ci"},
		{name: "keyless bundle with Rekor entry, wrong identity", setup: func(repo, d string) {
			reg.AttachBundle(t, repo, d, imagestest.KeylessTlogBundle(t, vs, "someone@evil.example", issuer, reg.Host+"/"+repo, d))
		}, wantOutcome: Failed, wantReason: "authority ci"},
		{name: "classic keyless good identity", setup: func(repo, d string) {
			reg.SignClassicKeyless(t, vs, repo, d, d, identity, issuer)
		}, wantOutcome: Verified, wantAuth: "test/ci"},
		{name: "classic keyless wrong identity", setup: func(repo, d string) {
			reg.SignClassicKeyless(t, vs, repo, d, d, "https://github.com/evil/app/.github/workflows/x.yml@refs/heads/main", issuer)
		}, wantOutcome: Failed, wantReason: "authority ci"},
		{name: "classic keyless copied from another image", setup: func(repo, d string) {
			other := reg.PushImage(t, repo, "other")
			reg.SignClassicKeyless(t, vs, repo, d, other, identity, issuer)
		}, wantOutcome: Failed, wantReason: "copied from another image"},
		{name: "keyless wrong issuer", setup: func(repo, d string) {
			reg.AttachBundle(t, repo, d, imagestest.KeylessBundle(t, vs, identity, "https://accounts.example", reg.Host+"/"+repo, d))
		}, wantOutcome: Failed, wantReason: "authority ci"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			repo := "signed/app" + string(rune('a'+i))
			d := reg.PushImage(t, repo, "v1")
			tc.setup(repo, d)
			v := newTestVerifier(t, Options{})
			img := reg.Host + "/" + repo + "@" + d
			if tc.byTag {
				img = reg.Host + "/" + repo + ":v1"
			}
			vd := v.Verify(context.Background(), p, img, nil)
			if vd.Outcome != tc.wantOutcome {
				t.Fatalf("outcome %s, want %s: %s", vd.Outcome, tc.wantOutcome, vd.Message())
			}
			if vd.Digest != d {
				t.Errorf("digest %s, want %s", vd.Digest, d)
			}
			if tc.wantOutcome == Verified {
				if !vd.Allowed || len(vd.Authorities) != 1 || vd.Authorities[0] != tc.wantAuth {
					t.Errorf("allowed %v authorities %v, want %s", vd.Allowed, vd.Authorities, tc.wantAuth)
				}
				wantPin := ""
				if tc.byTag {
					wantPin = reg.Host + "/" + repo + "@" + d
				}
				if vd.Pinned != wantPin {
					t.Errorf("pinned %q, want %q", vd.Pinned, wantPin)
				}
				return
			}
			if vd.Allowed || !vd.Enforced || vd.ID() != ControlSignature {
				t.Errorf("allowed %v enforced %v id %s", vd.Allowed, vd.Enforced, vd.ID())
			}
			if !strings.Contains(vd.Reason, tc.wantReason) || !strings.Contains(vd.Fix, "cosign sign") {
				t.Errorf("message %q, want it to contain %q and a fix", vd.Message(), tc.wantReason)
			}
		})
	}
}

func TestVerifyUnmatched(t *testing.T) {
	t.Parallel()
	_, pemKey := imagestest.NewKey(t)
	for _, tc := range []struct {
		unmatched string
		allowed   bool
		enforced  bool
	}{{"", false, true}, {"unmatched: deny", false, true}, {"unmatched: warn", false, false}, {"unmatched: allow", true, false}} {
		t.Run(tc.unmatched, func(t *testing.T) {
			p := mustParse(t, policyDoc("registry.corp.example", keyAuthority("k", pemKey), tc.unmatched), nil)
			v := newTestVerifier(t, Options{})
			vd := v.Verify(context.Background(), p, "busybox:1.36", nil)
			if vd.Outcome != Unmatched || vd.Allowed != tc.allowed || vd.Enforced != tc.enforced {
				t.Fatalf("got %+v", vd)
			}
			if !tc.allowed && !strings.Contains(vd.Reason, "docker.io/library/busybox") {
				t.Errorf("reason %q does not name the repository", vd.Reason)
			}
		})
	}
}

// TestVerifyCachedAndOutage: a cold verify makes at most cosign's requests;
// a cached verdict makes none and keeps working while the registry is down;
// without one, onRegistryError decides and the message names the registry.
func TestVerifyCachedAndOutage(t *testing.T) {
	t.Parallel()
	reg := imagestest.NewRegistry(t)
	key, pemKey := imagestest.NewKey(t)
	d := reg.PushImage(t, "signed/app", "v1")
	reg.SignClassic(t, "signed/app", d, d, key)
	unverified := reg.PushImage(t, "signed/other", "v1")
	reg.SignClassic(t, "signed/other", unverified, unverified, key)

	now := time.Unix(1_800_000_000, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	p := mustParse(t, policyDoc(reg.Host, keyAuthority("k", pemKey), ""), nil)
	v := newTestVerifier(t, Options{Now: clock, Timeout: time.Second})

	reg.Reset()
	vd := v.Verify(context.Background(), p, reg.Host+"/signed/app:v1", nil)
	if !vd.Allowed || vd.Cached {
		t.Fatalf("cold verify: %+v", vd)
	}
	// ping, HEAD tag, referrers, .sig manifest, payload blob.
	if n := reg.Requests.Load(); n > 5 {
		t.Errorf("cold verify by tag made %d registry requests, want <= 5: %v", n, reg.RequestLog())
	}
	reg.Reset()
	vd = v.Verify(context.Background(), p, reg.Host+"/signed/app@"+d, nil)
	if !vd.Allowed || !vd.Cached || reg.Requests.Load() != 0 {
		t.Fatalf("cached verify: allowed %v cached %v, %d requests", vd.Allowed, vd.Cached, reg.Requests.Load())
	}

	reg.Down.Store(true)
	for _, img := range []string{reg.Host + "/signed/app@" + d, reg.Host + "/signed/app:v1"} {
		vd = v.Verify(context.Background(), p, img, nil)
		if !vd.Allowed || vd.Digest != d {
			t.Errorf("%s during outage with a cached verdict: %s", img, vd.Message())
		}
	}
	vd = v.Verify(context.Background(), p, reg.Host+"/signed/other@"+unverified, nil)
	if vd.Outcome != RegistryError || !vd.Enforced || vd.ID() != ControlRegistry || !strings.Contains(vd.Reason, reg.Host) {
		t.Errorf("outage without cache: %+v", vd)
	}
	// Past the TTL the cached verdict is no longer fresh: fail closed.
	mu.Lock()
	now = now.Add(11 * time.Minute)
	mu.Unlock()
	vd = v.Verify(context.Background(), p, reg.Host+"/signed/app@"+d, nil)
	if vd.Outcome != RegistryError || vd.Allowed {
		t.Errorf("outage after TTL: %+v", vd)
	}
	reg.Down.Store(false)
	vd = v.Verify(context.Background(), p, reg.Host+"/signed/app@"+d, nil)
	if !vd.Allowed || vd.Cached {
		t.Errorf("after the outage: %+v", vd)
	}
}

func TestVerifyOnRegistryErrorWarn(t *testing.T) {
	t.Parallel()
	reg := imagestest.NewRegistry(t)
	_, pemKey := imagestest.NewKey(t)
	d := reg.PushImage(t, "signed/app", "v1")
	doc := `policies:
- name: soft
  images: ["` + reg.Host + `/signed/**"]
  onRegistryError: warn
  authorities:
` + keyAuthority("k", pemKey)
	p := mustParse(t, doc, nil)
	reg.Down.Store(true)
	vd := newTestVerifier(t, Options{}).Verify(context.Background(), p, reg.Host+"/signed/app@"+d, nil)
	if vd.Outcome != RegistryError || vd.Allowed || vd.Enforced {
		t.Fatalf("got %+v", vd)
	}
}

// TestVerifyTagMoved: the verdict follows the digest; a tag moved to an
// unsigned image after verification is caught at the next resolution.
func TestVerifyTagMoved(t *testing.T) {
	t.Parallel()
	reg := imagestest.NewRegistry(t)
	key, pemKey := imagestest.NewKey(t)
	d := reg.PushImage(t, "signed/app", "v1")
	reg.SignClassic(t, "signed/app", d, d, key)
	p := mustParse(t, policyDoc(reg.Host, keyAuthority("k", pemKey), ""), nil)
	v := newTestVerifier(t, Options{})
	vd := v.Verify(context.Background(), p, reg.Host+"/signed/app:v1", nil)
	if !vd.Allowed || vd.Pinned != reg.Host+"/signed/app@"+d {
		t.Fatalf("first: %+v", vd)
	}
	moved := reg.PushImage(t, "signed/app", "v1")
	vd = v.Verify(context.Background(), p, reg.Host+"/signed/app:v1", nil)
	if vd.Allowed || vd.Digest != moved || !strings.Contains(vd.Reason, "no signatures found") {
		t.Fatalf("after the tag moved: %+v", vd)
	}
	if vd := v.Verify(context.Background(), p, reg.Host+"/signed/app:nope", nil); vd.Outcome != Failed || !vd.Enforced || !strings.Contains(vd.Reason, "not found") {
		t.Errorf("missing tag: %+v", vd)
	}
	// The pinned reference still verifies.
	if vd := v.Verify(context.Background(), p, reg.Host+"/signed/app@"+d, nil); !vd.Allowed {
		t.Fatalf("pinned: %+v", vd)
	}
}

func TestVerifyPrivateRegistry(t *testing.T) {
	t.Parallel()
	reg := imagestest.NewRegistryWithAuth(t, "robot", "s3cret")
	key, pemKey := imagestest.NewKey(t)
	d := reg.PushImage(t, "signed/app", "v1")
	reg.SignClassic(t, "signed/app", d, d, key)
	p := mustParse(t, policyDoc(reg.Host, keyAuthority("k", pemKey), ""), nil)

	vd := newTestVerifier(t, Options{}).Verify(context.Background(), p, reg.Host+"/signed/app:v1", nil)
	if vd.Outcome != RegistryError || strings.Contains(vd.Message(), "s3cret") {
		t.Fatalf("anonymous: %+v", vd)
	}
	kc, err := DockerConfigKeychain([]byte(`{"auths":{"` + reg.Host + `":{"auth":"cm9ib3Q6czNjcmV0"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	vd = newTestVerifier(t, Options{}).Verify(context.Background(), p, reg.Host+"/signed/app:v1", kc)
	if !vd.Allowed {
		t.Fatalf("with pull secret: %s", vd.Message())
	}
	vd = newTestVerifier(t, Options{Keychain: authn.NewMultiKeychain(kc)}).Verify(context.Background(), p, reg.Host+"/signed/app:v1", nil)
	if !vd.Allowed {
		t.Fatalf("with the verifier's keychain: %s", vd.Message())
	}
}

// TestVerifyConcurrentSingleFlight: concurrent cold requests for one digest
// share one signature fetch.
func TestVerifyConcurrentSingleFlight(t *testing.T) {
	t.Parallel()
	reg := imagestest.NewRegistry(t)
	key, pemKey := imagestest.NewKey(t)
	d := reg.PushImage(t, "signed/app", "v1")
	reg.SignClassic(t, "signed/app", d, d, key)
	p := mustParse(t, policyDoc(reg.Host, keyAuthority("k", pemKey), ""), nil)
	v := newTestVerifier(t, Options{})
	reg.Reset()
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			if vd := v.Verify(context.Background(), p, reg.Host+"/signed/app@"+d, nil); !vd.Allowed {
				t.Errorf("%s", vd.Message())
			}
		})
	}
	wg.Wait()
	if st := v.Stats(); st.Verifications != 16 || st.Fetches < 1 || st.Fetches > 2 || st.CachedVerdicts != 1 {
		t.Errorf("stats %+v", st)
	}
	sigs := 0
	for _, l := range reg.RequestLog() {
		if strings.Contains(l, ".sig") {
			sigs++
		}
	}
	if sigs > 2 { // one flight, possibly a second that started after the first stored its verdict... never more
		t.Errorf("%d .sig manifest fetches for 16 concurrent requests: %v", sigs, reg.RequestLog())
	}
}

// TestVerifyKeylessExpiredCertificate: a certificate that expired before
// the signature's timestamp does not verify.
func TestVerifyKeylessExpiredCertificate(t *testing.T) {
	t.Parallel()
	reg := imagestest.NewRegistry(t)
	vs, err := ca.NewVirtualSigstore()
	if err != nil {
		t.Fatal(err)
	}
	const identity, issuer = "release@acme.example", "https://accounts.acme.example"
	trusted, cert, priv := imagestest.ExpiredCert(t, vs, identity, issuer)
	d := reg.PushImage(t, "signed/app", "v1")
	reg.AttachBundle(t, "signed/app", d, imagestest.CertBundle(t, vs, cert, priv, reg.Host+"/signed/app", d))
	doc := policyDoc(reg.Host, "  - keyless: {subject: "+identity+", issuer: \""+issuer+"\"}\n", "trustedRoot: root.json")
	p := mustParse(t, doc, map[string][]byte{"root.json": trusted})
	vd := newTestVerifier(t, Options{}).Verify(context.Background(), p, reg.Host+"/signed/app@"+d, nil)
	if vd.Outcome != Failed || !vd.Enforced || !strings.Contains(vd.Reason, "authority-1") {
		t.Fatalf("got %+v", vd)
	}
	t.Log(vd.Message())
}

// TestVerifySecretRefKey: a key from a Kubernetes Secret verifies; without
// Secret access, or with the Secret missing, the authority fails closed.
func TestVerifySecretRefKey(t *testing.T) {
	t.Parallel()
	reg := imagestest.NewRegistry(t)
	key, pemKey := imagestest.NewKey(t)
	d := reg.PushImage(t, "signed/app", "v1")
	reg.SignClassic(t, "signed/app", d, d, key)
	doc := policyDoc(reg.Host, "  - key: {secretRef: {namespace: agentguard-system, name: release-key}}\n", "")
	p := mustParse(t, doc, nil)
	img := reg.Host + "/signed/app@" + d
	secrets := &fakeSecrets{secrets: map[string]*corev1.Secret{
		"agentguard-system/release-key": {Data: map[string][]byte{"cosign.pub": []byte(pemKey)}},
	}}
	if vd := newTestVerifier(t, Options{Secrets: secrets}).Verify(context.Background(), p, img, nil); !vd.Allowed {
		t.Errorf("with the Secret: %s", vd.Message())
	}
	if vd := newTestVerifier(t, Options{}).Verify(context.Background(), p, img, nil); vd.Allowed || !strings.Contains(vd.Reason, "no Kubernetes access") {
		t.Errorf("without Secret access: %+v", vd)
	}
	if vd := newTestVerifier(t, Options{Secrets: &fakeSecrets{}}).Verify(context.Background(), p, img, nil); vd.Allowed || !strings.Contains(vd.Reason, "not found") {
		t.Errorf("Secret missing: %+v", vd)
	}
}
