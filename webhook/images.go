package webhook

import (
	"context"
	"strconv"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	corev1 "k8s.io/api/core/v1"

	"github.com/agentguard/agentguard/webhook/guardrails"
	"github.com/agentguard/agentguard/webhook/images"
)

// imageRef is one image reference in a pod spec and where it is.
type imageRef struct {
	kind  string // "container", "init container", "ephemeral container", "image volume"
	name  string
	image string
	path  string // JSON pointer of the reference, relative to the pod (template)
}

func podImages(spec *corev1.PodSpec) []imageRef {
	var out []imageRef
	for i, c := range spec.InitContainers {
		out = append(out, imageRef{"init container", c.Name, c.Image, "/spec/initContainers/" + strconv.Itoa(i) + "/image"})
	}
	for i, c := range spec.Containers {
		out = append(out, imageRef{"container", c.Name, c.Image, "/spec/containers/" + strconv.Itoa(i) + "/image"})
	}
	for i, c := range spec.EphemeralContainers {
		out = append(out, imageRef{"ephemeral container", c.Name, c.Image, "/spec/ephemeralContainers/" + strconv.Itoa(i) + "/image"})
	}
	for i, v := range spec.Volumes {
		if v.Image != nil {
			out = append(out, imageRef{"image volume", v.Name, v.Image.Reference, "/spec/volumes/" + strconv.Itoa(i) + "/image/reference"})
		}
	}
	return out
}

// verifyImages checks every image of the pod (template) against the
// bundle's image policy, each distinct image once and concurrently, and
// returns the verdicts by image. It returns nil when there is nothing to
// verify: no verifier (offline evaluation), no image policy, or a pod the
// container guardrails do not apply to.
func (rv *Reviewer) verifyImages(ctx context.Context, e *guardrails.Engine, in *guardrails.Input) ([]imageRef, map[string]*images.Verdict) {
	p := e.Images()
	if rv.Images == nil || p == nil || !e.ContainerChecksApply(in) {
		return nil, nil
	}
	refs := podImages(in.PodSpec)
	// A pull-secret read failure leaves the verifier's own credentials;
	// if the registry then refuses, the verdict says so.
	kc, _ := rv.Images.PodKeychain(ctx, in.Namespace, in.PodSpec)
	var unique []string
	seen := map[string]bool{}
	for _, r := range refs {
		if !seen[r.image] {
			seen[r.image] = true
			unique = append(unique, r.image)
		}
	}
	results := make([]*images.Verdict, len(unique))
	var wg sync.WaitGroup
	for i, img := range unique {
		wg.Go(func() { results[i] = rv.Images.Verify(ctx, p, img, kc) })
	}
	wg.Wait()
	verdicts := make(map[string]*images.Verdict, len(unique))
	for i, img := range unique {
		verdicts[img] = results[i]
	}
	return refs, verdicts
}

// pinImages adds, for every verified image referenced by tag, a patch that
// pins it to the verified digest (AG-GEN-004). Images that fail
// verification are left as written for validation to refuse.
func (rv *Reviewer) pinImages(ctx context.Context, e *guardrails.Engine, in *guardrails.Input, x *Extracted, m *Mutation) {
	refs, verdicts := rv.verifyImages(ctx, e, in)
	for _, r := range refs {
		if vd := verdicts[r.image]; vd != nil && vd.Allowed && vd.Pinned != "" {
			m.Patch = append(m.Patch, PatchOp{Op: "replace", Path: x.Path + r.path, Value: vd.Pinned})
		}
	}
}

// checkImages adds image violations to d: images that fail verification
// (AG-GEN-004), whose registry failed (AG-GEN-003), that passed but are
// still referenced by tag, so the kubelet could pull something else
// (AG-GEN-004; the mutating webhook pins them), or that lack the provenance
// metadata their policy requires (AG-GEN-005).
func (rv *Reviewer) checkImages(ctx context.Context, e *guardrails.Engine, in *guardrails.Input, d *guardrails.Decision) {
	refs, verdicts := rv.verifyImages(ctx, e, in)
	add := func(r imageRef, id, msg string, enforced bool) {
		mode := e.ModeFor(guardrails.CheckImages, id)
		if !enforced && mode == guardrails.ModeEnforce {
			mode = guardrails.ModeWarn
		}
		d.Violations = append(d.Violations, guardrails.Violation{
			ID:      id,
			Check:   guardrails.CheckImages,
			Message: "[" + id + "] " + r.kind + " " + strconv.Quote(r.name) + ": " + msg,
			Mode:    mode,
		})
		if mode == guardrails.ModeEnforce {
			d.Allowed = false
		}
	}
	for _, r := range refs {
		vd := verdicts[r.image]
		if vd == nil {
			continue
		}
		if len(vd.MissingProvenance) > 0 {
			add(r, images.ControlProvenance, vd.ProvenanceMessage(), vd.ProvenanceEnforced)
		}
		var id, msg string
		enforced := vd.Enforced
		switch {
		case !vd.Allowed:
			id, msg = vd.ID(), vd.Message()
		case vd.Outcome == images.Verified && !vd.ByDigest:
			id = images.ControlSignature
			msg = "image " + strconv.Quote(r.image) + " is verified but not pinned by digest, so the node could pull a different image; fix: reference it as " +
				vd.Pinned + " (agentguard's mutating webhook does this when it runs)"
			enforced = vd.Mode == images.ModeEnforce
		default:
			continue
		}
		add(r, id, msg, enforced)
	}
}

// registerImageMetrics exports the image verifier's counters: how many
// verifications were answered from the verdict cache, how many needed a
// registry fetch, and how many were decided by onRegistryError.
func registerImageMetrics(meter metric.Meter, v *images.Verifier) error {
	verifications, err := meter.Int64ObservableCounter("agentguard.images.verifications",
		metric.WithDescription("Image verifications against the bundle's image policy, by result: cached (verdict cache hit), fetched (signatures fetched from the registry) or registry_error."))
	if err != nil {
		return err
	}
	cached, err := meter.Int64ObservableGauge("agentguard.images.cached_verdicts",
		metric.WithDescription("Verdicts in the image verifier's cache."))
	if err != nil {
		return err
	}
	_, err = meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		st := v.Stats()
		o.ObserveInt64(verifications, st.CacheHits, metric.WithAttributes(attribute.String("result", "cached")))
		o.ObserveInt64(verifications, st.Fetches, metric.WithAttributes(attribute.String("result", "fetched")))
		o.ObserveInt64(verifications, st.RegistryErrors, metric.WithAttributes(attribute.String("result", "registry_error")))
		o.ObserveInt64(cached, int64(st.CachedVerdicts))
		return nil
	}, verifications, cached)
	return err
}
