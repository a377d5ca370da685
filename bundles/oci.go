package bundles

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// OCI media types of a bundle pushed as an OCI artifact: an image
// manifest whose artifactType and config name agentguard, with the bundle
// archive as its single layer.
const (
	ArtifactType        = "application/vnd.agentguard.bundle.v1"
	ConfigMediaType     = "application/vnd.agentguard.bundle.config.v1+json"
	LayerMediaType      = "application/vnd.agentguard.bundle.layer.v1.tar+gzip"
	annotationTitle     = "org.opencontainers.image.title"
	annotationRevision  = "org.opencontainers.image.revision"
	annotationCreated   = "org.opencontainers.image.created"
	annotationSource    = "org.opencontainers.image.source"
	annotationBundle    = "io.agentguard.bundle.name"
	annotationBundleRev = "io.agentguard.bundle.revision"
)

// ociConfig is the artifact's config blob.
type ociConfig struct {
	Name     string `json:"name"`
	Revision string `json:"revision"`
	Digest   string `json:"digest"`
	Signer   string `json:"signer,omitempty"`
}

// artifact is a bundle as a v1.Image (CompressedImageCore).
type artifact struct {
	config, manifest []byte
	layer            v1.Layer
}

func (a *artifact) RawConfigFile() ([]byte, error)      { return a.config, nil }
func (a *artifact) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }
func (a *artifact) RawManifest() ([]byte, error)        { return a.manifest, nil }

func (a *artifact) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	if d, _ := a.layer.Digest(); d == h {
		return a.layer, nil
	}
	if d, _, _ := v1.SHA256(bytes.NewReader(a.config)); d == h {
		return static.NewLayer(a.config, ConfigMediaType), nil
	}
	return nil, fmt.Errorf("blob %s not in bundle artifact", h)
}

func newArtifact(b *Bundle) (v1.Image, error) {
	archive, err := MarshalArchive(b)
	if err != nil {
		return nil, err
	}
	cfg, err := json.Marshal(ociConfig{Name: b.Name(), Revision: b.Revision(), Digest: b.Digest(), Signer: b.Signer})
	if err != nil {
		return nil, err
	}
	layer := static.NewLayer(archive, LayerMediaType)
	ld, err := layer.Digest()
	if err != nil {
		return nil, err
	}
	cd, cs, err := v1.SHA256(bytes.NewReader(cfg))
	if err != nil {
		return nil, err
	}
	ann := map[string]string{
		annotationBundle:    b.Name(),
		annotationBundleRev: b.Revision(),
		annotationRevision:  b.Revision(),
	}
	if c := b.Manifest.Created; c != nil {
		ann[annotationCreated] = c.UTC().Format("2006-01-02T15:04:05Z")
	}
	if s := b.Manifest.Source; s != nil && s.Repository != "" {
		ann[annotationSource] = s.Repository
	}
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		ArtifactType:  ArtifactType,
		Config:        v1.Descriptor{MediaType: ConfigMediaType, Size: cs, Digest: cd},
		Layers: []v1.Descriptor{{
			MediaType:   LayerMediaType,
			Size:        int64(len(archive)),
			Digest:      ld,
			Annotations: map[string]string{annotationTitle: b.Name() + ".tar.gz"},
		}},
		Annotations: ann,
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	return partial.CompressedToImage(&artifact{config: cfg, manifest: raw, layer: layer})
}

// Push uploads b to an OCI registry as an artifact with agentguard's media
// types and returns the manifest digest ("sha256:..."). ref is
// "registry/repository:tag", without the oci:// prefix.
func Push(ctx context.Context, ref string, b *Bundle, opts SourceOptions) (string, error) {
	opts.setDefaults()
	r, err := parseOCIRef(ref, opts)
	if err != nil {
		return "", err
	}
	img, err := newArtifact(b)
	if err != nil {
		return "", err
	}
	if err := remote.Write(r, img, ociRemoteOptions(ctx, opts)...); err != nil {
		return "", fmt.Errorf("push bundle to %s: %w", r, err)
	}
	d, err := img.Digest()
	if err != nil {
		return "", err
	}
	return d.String(), nil
}

func parseOCIRef(ref string, opts SourceOptions) (name.Reference, error) {
	var nopts []name.Option
	if opts.InsecureHTTP {
		nopts = append(nopts, name.Insecure)
	}
	r, err := name.ParseReference(ref, nopts...)
	if err != nil {
		return nil, fmt.Errorf("bundle source oci://%s: %w", ref, err)
	}
	return r, nil
}

func ociRemoteOptions(ctx context.Context, opts SourceOptions) []remote.Option {
	tr := opts.HTTPClient.Transport
	if tr == nil {
		tr = http.DefaultTransport
	}
	return []remote.Option{
		remote.WithContext(ctx),
		remote.WithAuthFromKeychain(opts.Keychain),
		remote.WithTransport(tr),
	}
}

// ociSource fetches a bundle artifact; its version is the manifest digest,
// so an unchanged tag costs one manifest request.
type ociSource struct {
	ref    name.Reference
	opts   SourceOptions
	limits Limits
}

func newOCISource(ref string, opts SourceOptions) (*ociSource, error) {
	r, err := parseOCIRef(ref, opts)
	if err != nil {
		return nil, err
	}
	return &ociSource{ref: r, opts: opts, limits: opts.Limits.withDefaults()}, nil
}

func (s *ociSource) String() string { return "oci://" + s.ref.String() }

func (s *ociSource) Fetch(ctx context.Context, since string) (*Fetched, error) {
	desc, err := remote.Get(s.ref, ociRemoteOptions(ctx, s.opts)...)
	if err != nil {
		return nil, fmt.Errorf("fetch bundle %s: %w", s, err)
	}
	version := desc.Digest.String()
	if version == since {
		return nil, ErrNotModified
	}
	if desc.MediaType != types.OCIManifestSchema1 {
		return nil, fmt.Errorf("fetch bundle %s: %w: media type %s, want an OCI image manifest", s, ErrBadArchive, desc.MediaType)
	}
	img, err := desc.Image()
	if err != nil {
		return nil, fmt.Errorf("fetch bundle %s: %w", s, err)
	}
	m, err := img.Manifest()
	if err != nil {
		return nil, fmt.Errorf("fetch bundle %s: %w", s, err)
	}
	if m.Config.MediaType != ConfigMediaType {
		return nil, fmt.Errorf("fetch bundle %s: %w: config media type %q, want %q (not an agentguard bundle)", s, ErrBadArchive, m.Config.MediaType, ConfigMediaType)
	}
	if len(m.Layers) != 1 || m.Layers[0].MediaType != LayerMediaType {
		return nil, fmt.Errorf("fetch bundle %s: %w: want exactly one layer of type %s", s, ErrBadArchive, LayerMediaType)
	}
	if m.Layers[0].Size > s.limits.MaxArchiveBytes {
		return nil, fmt.Errorf("fetch bundle %s: %w: layer of %d bytes", s, ErrTooLarge, m.Layers[0].Size)
	}
	layer, err := img.LayerByDigest(m.Layers[0].Digest)
	if err != nil {
		return nil, fmt.Errorf("fetch bundle %s: %w", s, err)
	}
	// Compressed() checks the blob against its digest as it is read.
	rc, err := layer.Compressed()
	if err != nil {
		return nil, fmt.Errorf("fetch bundle %s: %w", s, err)
	}
	defer func() { _ = rc.Close() }()
	data, err := io.ReadAll(io.LimitReader(rc, s.limits.MaxArchiveBytes+1))
	if err != nil {
		return nil, fmt.Errorf("fetch bundle %s: %w", s, err)
	}
	b, err := ReadArchive(bytes.NewReader(data), s.limits)
	if err != nil {
		return nil, fmt.Errorf("fetch bundle %s: %w", s, err)
	}
	b.Source = s.String()
	return &Fetched{Bundle: b, Version: version}, nil
}
