package bundles

import (
	"context"
	"crypto"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

func newRegistry(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func TestOCIPushPullAndManager(t *testing.T) {
	t.Parallel()
	host := newRegistry(t)
	ref := host + "/policies/default:prod"
	key := mustKey(t, ES256)
	ctx := context.Background()
	b1 := mustSign(t, mustNew(t, testFiles("1")), key)
	d1, err := Push(ctx, ref, b1, SourceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(d1, "sha256:") {
		t.Fatalf("digest %q", d1)
	}

	// The manifest carries agentguard's media types.
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Get(r)
	if err != nil {
		t.Fatal(err)
	}
	img, _ := desc.Image()
	man, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if man.ArtifactType != ArtifactType || man.Config.MediaType != ConfigMediaType || len(man.Layers) != 1 ||
		man.Layers[0].MediaType != LayerMediaType || man.Annotations[annotationBundleRev] != "1" {
		t.Errorf("manifest %+v does not carry the bundle media types and annotations", man)
	}

	acts := &activations{}
	m, err := NewManager(Options{Source: "oci://" + ref, PublicKeys: []crypto.PublicKey{key.Public()}, Activate: acts.activate})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m.Sync(ctx); err != nil { // same digest: not modified
		t.Fatal(err)
	}
	if _, err := Push(ctx, ref, mustSign(t, mustNew(t, testFiles("2")), key), SourceOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := m.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	// A tampered bundle pushed to the tag is refused.
	bad := tamper(t, mustSign(t, mustNew(t, testFiles("3")), key), func(f map[string][]byte) { f["tests/authz.json"] = []byte("{}") })
	if _, err := Push(ctx, ref, bad, SourceOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := m.Sync(ctx); !errors.Is(err, ErrFileModified) {
		t.Fatalf("tampered: err = %v, want ErrFileModified", err)
	}
	if diff := cmp.Diff([]string{"1", "2"}, acts.list()); diff != "" {
		t.Errorf("activations (-want +got):\n%s", diff)
	}
	if st := m.Status(); st.Revision != "2" || st.Source != "oci://"+ref {
		t.Errorf("status %+v", st)
	}

	// Pull by digest gives back the first bundle, byte for byte.
	src, err := OpenSource("oci://"+host+"/policies/default@"+d1, SourceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f, err := src.Fetch(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if f.Bundle.Digest() != b1.Digest() || f.Version != d1 {
		t.Errorf("pulled %s (version %s), want %s (%s)", f.Bundle.Digest(), f.Version, b1.Digest(), d1)
	}
	if _, err := src.Fetch(ctx, d1); !errors.Is(err, ErrNotModified) {
		t.Errorf("fetch since the same digest: err = %v, want ErrNotModified", err)
	}
}

func TestOCIRefusesOtherArtifacts(t *testing.T) {
	t.Parallel()
	host := newRegistry(t)
	ref := host + "/some/image:latest"
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img); err != nil {
		t.Fatal(err)
	}
	src, err := OpenSource("oci://"+ref, SourceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.Fetch(context.Background(), ""); !errors.Is(err, ErrBadArchive) {
		t.Fatalf("container image: err = %v, want ErrBadArchive", err)
	}
	missing, err := OpenSource("oci://"+host+"/nothing:here", SourceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := missing.Fetch(context.Background(), ""); err == nil {
		t.Fatal("missing tag: no error")
	}
}
