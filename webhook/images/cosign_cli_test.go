package images

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/agentguard/agentguard/webhook/images/imagestest"
)

// cosignCLI returns the path of bin/cosign (make cosign), or skips.
func cosignCLI(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	p := filepath.Join(filepath.Dir(file), "..", "..", "bin", "cosign")
	if _, err := os.Stat(p); err != nil {
		t.Skip("bin/cosign not installed (make cosign)")
	}
	return p
}

func runCosign(t *testing.T, bin, dir string, args ...string) {
	t.Helper()
	cmd := exec.CommandContext(context.Background(), bin, args...)
	cmd.Dir = dir
	// Offline signing: no password, no prompts, no TUF or Rekor, and a
	// private HOME so nothing outside the test is read or written.
	cmd.Env = append(os.Environ(), "COSIGN_PASSWORD=", "COSIGN_YES=true", "HOME="+dir, "TUF_ROOT="+filepath.Join(dir, ".sigstore"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cosign %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// TestCosignCLIInterop: images signed by the real cosign CLI (v2.6.5), in
// the classic format and with --new-bundle-format, are admitted with the
// signing key and refused with another.
func TestCosignCLIInterop(t *testing.T) {
	bin := cosignCLI(t)
	t.Parallel()
	reg := imagestest.NewRegistry(t)
	dir := t.TempDir()
	runCosign(t, bin, dir, "generate-key-pair")
	pub, err := os.ReadFile(filepath.Join(dir, "cosign.pub"))
	if err != nil {
		t.Fatal(err)
	}
	_, otherPEM := imagestest.NewKey(t)
	good := mustParse(t, policyDoc(reg.Host, keyAuthority("cli", string(pub)), ""), nil)
	wrong := mustParse(t, policyDoc(reg.Host, keyAuthority("other", otherPEM), ""), nil)
	for _, tc := range []struct {
		name  string
		extra []string
	}{
		{"classic", nil},
		{"bundle", []string{"--new-bundle-format"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := reg.PushImage(t, "signed/"+tc.name, "v1")
			img := reg.Host + "/signed/" + tc.name + "@" + d
			args := append([]string{"sign", "--key", "cosign.key", "--tlog-upload=false", "--allow-http-registry"}, tc.extra...)
			runCosign(t, bin, dir, append(args, img)...)
			ref, err := name.NewDigest(img)
			if err != nil {
				t.Fatal(err)
			}
			_, sigErr := remote.Head(imagestest.SigTag(ref))
			idx, err := remote.Referrers(ref)
			if err != nil {
				t.Fatal(err)
			}
			im, err := idx.IndexManifest()
			if err != nil {
				t.Fatal(err)
			}
			if hasSig, hasRef := sigErr == nil, len(im.Manifests) > 0; hasSig != (tc.name == "classic") || hasRef != (tc.name == "bundle") {
				t.Fatalf("cosign stored .sig tag %v, referrers %d: not the %s format", hasSig, len(im.Manifests), tc.name)
			}
			if vd := newTestVerifier(t, Options{}).Verify(context.Background(), good, reg.Host+"/signed/"+tc.name+":v1", nil); !vd.Allowed || vd.Pinned != img {
				t.Errorf("signing key: %+v", vd)
			}
			if vd := newTestVerifier(t, Options{}).Verify(context.Background(), wrong, img, nil); vd.Allowed || vd.Outcome != Failed {
				t.Errorf("other key: %+v", vd)
			}
		})
	}
}
