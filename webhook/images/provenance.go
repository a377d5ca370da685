package images

import (
	"context"
	"slices"
	"strconv"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// checkProvenance fills in, for the rules that require provenance
// (AG-GEN-005), the keys the image lacks. The metadata is read once: the
// annotations of the manifest (or index) and, for an image, the labels of
// its config (Dockerfile LABEL). Registry failures are returned.
func checkProvenance(ctx context.Context, p *remote.Puller, d name.Digest, rules []*rule, out []ruleVerdict) error {
	need := false
	for _, r := range rules {
		need = need || len(r.provenance) > 0
	}
	if !need {
		return nil
	}
	meta, err := fetchMetadata(ctx, p, d)
	if err != nil {
		return err
	}
	for i, r := range rules {
		for _, k := range r.provenance {
			if strings.TrimSpace(meta[k]) == "" {
				out[i].missing = append(out[i].missing, k)
			}
		}
	}
	return nil
}

func fetchMetadata(ctx context.Context, p *remote.Puller, d name.Digest) (map[string]string, error) {
	desc, err := p.Get(ctx, d)
	if err != nil {
		return nil, err
	}
	meta := map[string]string{}
	if desc.MediaType.IsIndex() {
		idx, err := desc.ImageIndex()
		if err != nil {
			return nil, err
		}
		m, err := idx.IndexManifest()
		if err != nil {
			return nil, err
		}
		for k, v := range m.Annotations {
			meta[k] = v
		}
		return meta, nil
	}
	img, err := desc.Image()
	if err != nil {
		return nil, err
	}
	m, err := img.Manifest()
	if err != nil {
		return nil, err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	for k, v := range cfg.Config.Labels {
		meta[k] = v
	}
	// Manifest annotations win over config labels.
	for k, v := range m.Annotations {
		meta[k] = v
	}
	return meta, nil
}

// provenanceFix says how to add the missing keys.
func provenanceFix(missing []string) string {
	keys := slices.Clone(missing)
	slices.Sort(keys)
	var b strings.Builder
	b.WriteString("build the image with ")
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(k + "=<value>")
	}
	b.WriteString(" (docker buildx --annotation, or LABEL in the Dockerfile)")
	return b.String()
}

// ProvenanceMessage is the AG-GEN-005 message for a verdict with missing
// provenance keys (without the control ID): what is missing and how to fix
// it.
func (vd *Verdict) ProvenanceMessage() string {
	return "image " + strconv.Quote(vd.Image) + " lacks provenance metadata " + strings.Join(vd.MissingProvenance, ", ") +
		"; fix: " + provenanceFix(vd.MissingProvenance)
}
