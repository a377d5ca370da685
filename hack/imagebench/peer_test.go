package imagebench

import (
	"context"
	"crypto"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/sigstore/cosign/v2/pkg/cosign"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/agentguard/agentguard/webhook/images"
	"github.com/agentguard/agentguard/webhook/images/imagestest"
)

func policy(b *testing.B, host, pemKey, salt string) *images.Policy {
	var key strings.Builder
	for _, l := range strings.Split(strings.TrimSpace(pemKey), "\n") {
		key.WriteString("          " + l + "\n")
	}
	p, err := images.Parse([]byte(`policies:
- name: bench
  images: ["`+host+`/**"]
  authorities:
    - key:
        pem: |
`+key.String()+"# "+salt+"\n"), nil)
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// BenchmarkPeer verifies one classic-signed image by digest, cold (no
// cache) and, for agentguard, cached, next to cosign.VerifyImageSignatures
// with a key, no transparency log and the claim check (ClaimVerifier).
// req/op is registry requests per verification.
func BenchmarkPeer(b *testing.B) {
	reg := imagestest.NewRegistry(b)
	key, pemKey := imagestest.NewKey(b)
	d := reg.PushImage(b, "app", "v1")
	reg.SignClassic(b, "app", d, d, key)
	img := reg.Host + "/app@" + d
	ctx := context.Background()
	p := policy(b, reg.Host, pemKey, "")

	b.Run("agentguard/cold", func(b *testing.B) {
		v, _ := images.NewVerifier(images.Options{})
		v.Verify(ctx, p, img, nil) // learn the repository's format, like cosign knows it
		reg.Reset()
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			// A new policy revision each time: nothing cached but the format hint.
			i++
			p := policy(b, reg.Host, pemKey, strconv.Itoa(i))
			if vd := v.Verify(ctx, p, img, nil); !vd.Allowed {
				b.Fatal(vd.Message())
			}
		}
		b.ReportMetric(float64(reg.Requests.Load())/float64(b.N), "req/op")
	})
	b.Run("agentguard/cached", func(b *testing.B) {
		v, _ := images.NewVerifier(images.Options{})
		v.Verify(ctx, p, img, nil)
		reg.Reset()
		b.ReportAllocs()
		for b.Loop() {
			if vd := v.Verify(ctx, p, img, nil); !vd.Allowed {
				b.Fatal(vd.Message())
			}
		}
		b.ReportMetric(float64(reg.Requests.Load())/float64(b.N), "req/op")
	})
	b.Run("cosign/cold", func(b *testing.B) {
		sv, err := signature.LoadVerifier(key.Public(), crypto.SHA256)
		if err != nil {
			b.Fatal(err)
		}
		ref, err := name.ParseReference(img)
		if err != nil {
			b.Fatal(err)
		}
		co := &cosign.CheckOpts{SigVerifier: sv, IgnoreTlog: true, ClaimVerifier: cosign.SimpleClaimVerifier}
		reg.Reset()
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := cosign.VerifyImageSignatures(ctx, ref, co); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(reg.Requests.Load())/float64(b.N), "req/op")
	})
}

// TestCopiedSignature: a signature copied from another image's .sig tag is
// accepted by cosign's library unless ClaimVerifier is set; agentguard
// always refuses it.
func TestCopiedSignature(t *testing.T) {
	reg := imagestest.NewRegistry(t)
	key, pemKey := imagestest.NewKey(t)
	signed := reg.PushImage(t, "app", "signed")
	reg.SignClassic(t, "app", signed, signed, key)
	victim := reg.PushImage(t, "app", "evil")
	reg.CopyClassic(t, "app", signed, victim)
	img := reg.Host + "/app@" + victim
	ctx := context.Background()

	v, _ := images.NewVerifier(images.Options{})
	p, err := images.Parse([]byte(policyDoc(reg.Host, pemKey)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if vd := v.Verify(ctx, p, img, nil); vd.Allowed || !strings.Contains(vd.Reason, "copied from another image") {
		t.Errorf("agentguard: %+v", vd)
	}
	sv, err := signature.LoadVerifier(key.Public(), crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := name.ParseReference(img)
	if _, _, err := cosign.VerifyImageSignatures(ctx, ref, &cosign.CheckOpts{SigVerifier: sv, IgnoreTlog: true}); err != nil {
		t.Logf("cosign without ClaimVerifier refused it too: %v", err)
	} else {
		t.Logf("cosign without ClaimVerifier accepted the copied signature")
	}
	if _, _, err := cosign.VerifyImageSignatures(ctx, ref, &cosign.CheckOpts{SigVerifier: sv, IgnoreTlog: true, ClaimVerifier: cosign.SimpleClaimVerifier}); err == nil {
		t.Errorf("cosign with ClaimVerifier accepted the copied signature")
	}
}

func policyDoc(host, pemKey string) string {
	var key strings.Builder
	for _, l := range strings.Split(strings.TrimSpace(pemKey), "\n") {
		key.WriteString("          " + l + "\n")
	}
	return "policies:\n- name: bench\n  images: [\"" + host + "/**\"]\n  authorities:\n    - key:\n        pem: |\n" + key.String()
}
