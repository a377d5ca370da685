package images

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/agentguard/agentguard/webhook/images/imagestest"
)

// BenchmarkVerify measures one image verification: cached (the admission
// hot path: a digest reference with a fresh verdict), and cold against the
// in-process registry for each signature format, with 1 to 16 key
// authorities of which the last one signed. req/op is registry requests.
func BenchmarkVerify(b *testing.B) {
	reg := imagestest.NewRegistry(b)
	ctx := context.Background()
	for _, n := range []int{1, 4, 16} {
		var auths strings.Builder
		var signer = struct{ pem string }{}
		key, _ := imagestest.NewKey(b)
		for i := range n {
			k, pemKey := imagestest.NewKey(b)
			if i == n-1 {
				key, signer.pem = k, pemKey
			}
			auths.WriteString(keyAuthority("k"+strconv.Itoa(i), pemKey))
		}
		p := mustParse(b, policyDoc(reg.Host, auths.String(), ""), nil)
		repo := "signed/bench" + strconv.Itoa(n)
		classic := reg.PushImage(b, repo, "classic")
		reg.SignClassic(b, repo, classic, classic, key)
		bundled := reg.PushImage(b, repo, "bundle")
		reg.AttachBundle(b, repo, bundled, imagestest.KeyBundle(b, key, reg.Host+"/"+repo, bundled))
		suffix := "/authorities=" + strconv.Itoa(n)

		b.Run("cached"+suffix, func(b *testing.B) {
			v := newTestVerifier(b, Options{})
			img := reg.Host + "/" + repo + "@" + classic
			if vd := v.Verify(ctx, p, img, nil); !vd.Allowed {
				b.Fatal(vd.Message())
			}
			reg.Reset()
			b.ReportAllocs()
			for b.Loop() {
				if vd := v.Verify(ctx, p, img, nil); !vd.Allowed || !vd.Cached {
					b.Fatal(vd.Message())
				}
			}
			b.ReportMetric(float64(reg.Requests.Load())/float64(b.N), "req/op")
		})
		// Steady state: the verifier has seen the repository, so it fetches
		// the format that verified there first; only the verdict is cold.
		b.Run("cold-classic-digest-known-repo"+suffix, func(b *testing.B) {
			v := newTestVerifier(b, Options{})
			img := reg.Host + "/" + repo + "@" + classic
			v.Verify(ctx, p, img, nil)
			reg.Reset()
			b.ReportAllocs()
			for b.Loop() {
				v.verdicts = newLRU[ruleVerdict](16)
				if vd := v.Verify(ctx, p, img, nil); !vd.Allowed || vd.Cached {
					b.Fatal(vd.Message())
				}
			}
			b.ReportMetric(float64(reg.Requests.Load())/float64(b.N), "req/op")
		})
		for _, tc := range []struct{ name, img string }{
			{"cold-classic-digest", reg.Host + "/" + repo + "@" + classic},
			{"cold-classic-tag", reg.Host + "/" + repo + ":classic"},
			{"cold-bundle-digest", reg.Host + "/" + repo + "@" + bundled},
		} {
			b.Run(tc.name+suffix, func(b *testing.B) {
				reg.Reset()
				b.ReportAllocs()
				for b.Loop() {
					v := newTestVerifier(b, Options{})
					if vd := v.Verify(ctx, p, tc.img, nil); !vd.Allowed || vd.Cached {
						b.Fatal(vd.Message())
					}
				}
				b.ReportMetric(float64(reg.Requests.Load())/float64(b.N), "req/op")
			})
		}
	}
}
