package images

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/agentguard/agentguard/webhook/images/imagestest"
)

// TestProvenance: a policy's provenance requirement (AG-GEN-005) is checked
// on manifest annotations and config labels, reported with the keys that
// are missing, and cached with the verdict.
func TestProvenance(t *testing.T) {
	t.Parallel()
	reg := imagestest.NewRegistry(t)
	key, pemKey := imagestest.NewKey(t)
	full := map[string]string{
		"org.opencontainers.image.source":   "https://github.com/acme/app",
		"org.opencontainers.image.version":  "1.4.2",
		"org.opencontainers.image.revision": "0123abc",
	}
	complete := reg.PushImageWithMetadata(t, "signed/complete", "v1", map[string]string{"org.opencontainers.image.authors": "acme"}, full)
	partial := reg.PushImageWithMetadata(t, "signed/partial", "v1", nil, map[string]string{"org.opencontainers.image.version": "1"})
	for _, d := range []struct{ repo, digest string }{{"signed/complete", complete}, {"signed/partial", partial}} {
		reg.SignClassic(t, d.repo, d.digest, d.digest, key)
	}
	for _, mode := range []string{"enforce", "warn"} {
		t.Run(mode, func(t *testing.T) {
			doc := `policies:
- name: test
  images: ["` + reg.Host + `/signed/**"]
  provenance: {mode: ` + mode + `}
  authorities:
` + keyAuthority("k", pemKey)
			p := mustParse(t, doc, nil)
			v := newTestVerifier(t, Options{})
			if vd := v.Verify(context.Background(), p, reg.Host+"/signed/complete@"+complete, nil); !vd.Allowed || len(vd.MissingProvenance) > 0 {
				t.Errorf("complete: %+v", vd)
			}
			for range 2 { // cold, then cached
				vd := v.Verify(context.Background(), p, reg.Host+"/signed/partial@"+partial, nil)
				want := []string{"org.opencontainers.image.source", "org.opencontainers.image.revision", "org.opencontainers.image.authors"}
				if !vd.Allowed || !slices.Equal(vd.MissingProvenance, want) || vd.ProvenanceEnforced != (mode == "enforce") {
					t.Errorf("partial: %+v", vd)
				}
				if msg := vd.ProvenanceMessage(); !strings.Contains(msg, "org.opencontainers.image.source") || !strings.Contains(msg, "fix:") {
					t.Errorf("message %q", msg)
				}
			}
		})
	}
}
