package images

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/sigstore/sigstore-go/pkg/bundle"
)

// Media types and annotations of the two signature formats.
const (
	// Classic cosign: a manifest tagged sha256-<hex>.sig whose layers are
	// simple-signing payloads, the signature in an annotation.
	mediaTypeSimpleSigning = "application/vnd.dev.cosign.simplesigning.v1+json"
	annotationSignature    = "dev.cosignproject.cosign/signature"
	annotationCertificate  = "dev.sigstore.cosign/certificate"
	annotationChain        = "dev.sigstore.cosign/chain"
	annotationRekorBundle  = "dev.sigstore.cosign/bundle"
	annotationTimestamp    = "dev.sigstore.cosign/rfc3161timestamp"
	// Sigstore bundle (cosign v3): an OCI 1.1 referrer whose layer is the
	// bundle JSON.
	mediaTypeBundlePrefix = "application/vnd.dev.sigstore.bundle"
	// Size limits for what is read from a registry.
	maxPayloadBytes = 64 << 10
	maxBundleBytes  = 1 << 20
	maxSignatures   = 32
)

// artifacts are the signatures a registry holds for one digest, fetched
// once and then tried against every authority locally.
type artifacts struct {
	classic []classicSig
	bundles []*bundle.Bundle
	// skipped describes artifacts that could not be used (malformed,
	// oversized), for the failure reason.
	skipped []string
}

type classicSig struct {
	payload   []byte
	signature string // base64, as in the annotation
	// Keyless signatures carry a certificate (PEM), the Rekor bundle (the
	// signed entry timestamp and entry, JSON) and optionally an RFC 3161
	// timestamp (JSON).
	cert, rekor, timestamp string
}

// classicTag is where cosign stores classic signatures for d.
func classicTag(d name.Digest) name.Tag {
	return d.Context().Tag(strings.Replace(d.DigestStr(), ":", "-", 1) + ".sig")
}

func fetchClassic(ctx context.Context, p *remote.Puller, d name.Digest, a *artifacts) error {
	desc, err := p.Get(ctx, classicTag(d))
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	img, err := desc.Image()
	if err != nil {
		a.skipped = append(a.skipped, fmt.Sprintf("classic signature manifest: %v", err))
		return nil
	}
	m, err := img.Manifest()
	if err != nil {
		return err
	}
	for i, l := range m.Layers {
		if i >= maxSignatures {
			a.skipped = append(a.skipped, fmt.Sprintf("more than %d classic signatures; the rest were ignored", maxSignatures))
			break
		}
		if l.MediaType != mediaTypeSimpleSigning {
			continue
		}
		sig := l.Annotations[annotationSignature]
		if sig == "" {
			a.skipped = append(a.skipped, "classic signature layer without a signature annotation")
			continue
		}
		payload, err := readLayer(img, l, maxPayloadBytes)
		if err != nil {
			if isRegistryFailure(err) {
				return err
			}
			a.skipped = append(a.skipped, fmt.Sprintf("classic signature payload: %v", err))
			continue
		}
		a.classic = append(a.classic, classicSig{payload: payload, signature: sig, cert: l.Annotations[annotationCertificate],
			rekor: l.Annotations[annotationRekorBundle], timestamp: l.Annotations[annotationTimestamp]})
	}
	return nil
}

func fetchBundles(ctx context.Context, p *remote.Puller, d name.Digest, a *artifacts) error {
	idx, err := remote.Referrers(d, remote.Reuse(p), remote.WithContext(ctx))
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return err
	}
	n := 0
	for _, desc := range im.Manifests {
		// Registries report the manifest's artifactType, or (older ones,
		// and ggcr's) its config media type: skip only what is clearly
		// something else, then filter by layer media type.
		if at := desc.ArtifactType; at != "" && !strings.HasPrefix(at, mediaTypeBundlePrefix) &&
			at != "application/vnd.oci.empty.v1+json" && at != "application/vnd.oci.image.config.v1+json" {
			continue
		}
		if n >= maxSignatures {
			a.skipped = append(a.skipped, fmt.Sprintf("more than %d signature referrers; the rest were ignored", maxSignatures))
			break
		}
		n++
		rd, err := p.Get(ctx, d.Context().Digest(desc.Digest.String()))
		if err != nil {
			if isRegistryFailure(err) {
				return err
			}
			a.skipped = append(a.skipped, fmt.Sprintf("referrer %s: %v", desc.Digest, err))
			continue
		}
		img, err := rd.Image()
		if err != nil {
			a.skipped = append(a.skipped, fmt.Sprintf("referrer %s: %v", desc.Digest, err))
			continue
		}
		m, err := img.Manifest()
		if err != nil {
			return err
		}
		for _, l := range m.Layers {
			if !strings.HasPrefix(string(l.MediaType), mediaTypeBundlePrefix) {
				continue
			}
			raw, err := readLayer(img, l, maxBundleBytes)
			if err != nil {
				if isRegistryFailure(err) {
					return err
				}
				a.skipped = append(a.skipped, fmt.Sprintf("referrer %s: %v", desc.Digest, err))
				continue
			}
			b := &bundle.Bundle{}
			if err := b.UnmarshalJSON(raw); err != nil {
				a.skipped = append(a.skipped, fmt.Sprintf("referrer %s: malformed Sigstore bundle: %v", desc.Digest, err))
				continue
			}
			a.bundles = append(a.bundles, b)
		}
	}
	return nil
}

// readLayer reads a layer's blob, refusing blobs larger than limit (by
// descriptor and by content); ggcr checks the content against its digest.
func readLayer(img v1.Image, l v1.Descriptor, limit int64) ([]byte, error) {
	if l.Size > limit {
		return nil, fmt.Errorf("blob of %d bytes exceeds the %d-byte limit", l.Size, limit)
	}
	layer, err := img.LayerByDigest(l.Digest)
	if err != nil {
		return nil, err
	}
	rc, err := layer.Compressed()
	if err != nil {
		return nil, err
	}
	defer func() { _ = rc.Close() }()
	data, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("blob exceeds the %d-byte limit", limit)
	}
	return data, nil
}

// isNotFound reports a registry's "no such manifest/repository" answer.
func isNotFound(err error) bool {
	var te *transport.Error
	return errors.As(err, &te) && te.StatusCode == http.StatusNotFound
}

// isRegistryFailure reports errors that say nothing about the image: the
// registry is unreachable, timed out, refused access or failed.
func isRegistryFailure(err error) bool {
	if err == nil || isNotFound(err) {
		return false
	}
	var te *transport.Error
	if errors.As(err, &te) {
		return te.StatusCode >= 500 || te.StatusCode == http.StatusUnauthorized ||
			te.StatusCode == http.StatusForbidden || te.StatusCode == http.StatusTooManyRequests
	}
	// Network errors, timeouts, TLS failures.
	return true
}
