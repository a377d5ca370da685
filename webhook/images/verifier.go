package images

import (
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"golang.org/x/sync/singleflight"
)

// Options configures NewVerifier.
type Options struct {
	// Keychain resolves registry credentials after the per-call keychain
	// (the pod's pull secrets). Default anonymous.
	Keychain authn.Keychain
	// Transport carries registry requests. Default remote.DefaultTransport
	// (TLS verified, proxy from the environment).
	Transport http.RoundTripper
	// Secrets reads key Secrets (authorities with key.secretRef). Nil makes
	// such authorities unsatisfiable (fail closed).
	Secrets SecretReader
	// Timeout bounds the registry work for one image (tag resolution and
	// signature fetch, retries included); keep it well below the
	// webhook's timeoutSeconds (at most 5s in the chart). Default 2s.
	Timeout time.Duration
	// CacheSize bounds the verdict cache (entries of digest x policy).
	// Default 4096.
	CacheSize int
	// TTL is how long a positive verdict, and a tag's last resolution
	// (used only while the registry is unreachable), stay fresh.
	// Default 10m.
	TTL time.Duration
	// NegativeTTL is how long a failed verification stays cached, so that a
	// newly signed image is admitted soon after signing. Default 30s.
	NegativeTTL time.Duration
	// SecretTTL is how long a key read from a Secret is reused. Default 30s.
	SecretTTL time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

func (o *Options) setDefaults() {
	if o.Keychain == nil {
		o.Keychain = authn.NewMultiKeychain()
	}
	if o.Transport == nil {
		o.Transport = remote.DefaultTransport
	}
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Second
	}
	if o.CacheSize <= 0 {
		o.CacheSize = 4096
	}
	if o.TTL <= 0 {
		o.TTL = 10 * time.Minute
	}
	if o.NegativeTTL <= 0 {
		o.NegativeTTL = 30 * time.Second
	}
	if o.SecretTTL <= 0 {
		o.SecretTTL = 30 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Verifier checks images against a Policy. It is safe for concurrent use
// and meant to live for the process: its caches are keyed by the policy
// revision, so a new bundle revision does not reuse old verdicts.
type Verifier struct {
	opts     Options
	verdicts *lru[ruleVerdict]
	tags     *lru[string]
	keys     *lru[crypto.PublicKey]
	// formats remembers, per repository, the signature format that last
	// verified, to fetch it first.
	formats *lru[string]
	flight  singleflight.Group

	verifications, cacheHits, fetches, registryErrors atomic.Int64
}

// Stats are a Verifier's counters since it was created, for metrics.
type Stats struct {
	// Verifications counts Verify calls for images a policy matched.
	Verifications int64
	// CacheHits counts those answered from cached verdicts, without a
	// signature fetch.
	CacheHits int64
	// Fetches counts signature fetches from registries (one per digest and
	// policy revision, shared by concurrent callers).
	Fetches int64
	// RegistryErrors counts verdicts decided by onRegistryError.
	RegistryErrors int64
	// CachedVerdicts is the number of verdicts in the cache.
	CachedVerdicts int
}

// Stats returns the verifier's counters.
func (v *Verifier) Stats() Stats {
	return Stats{
		Verifications:  v.verifications.Load(),
		CacheHits:      v.cacheHits.Load(),
		Fetches:        v.fetches.Load(),
		RegistryErrors: v.registryErrors.Load(),
		CachedVerdicts: v.verdicts.len(),
	}
}

// ruleVerdict is the cached outcome of one rule for one digest.
type ruleVerdict struct {
	ok        bool
	authority string
	reason    string
	// missing are the required provenance keys the image lacks.
	missing []string
}

// NewVerifier returns a Verifier.
func NewVerifier(opts Options) (*Verifier, error) {
	opts.setDefaults()
	if opts.NegativeTTL > opts.TTL {
		return nil, fmt.Errorf("image verifier: NegativeTTL %s exceeds TTL %s", opts.NegativeTTL, opts.TTL)
	}
	return &Verifier{
		opts:     opts,
		verdicts: newLRU[ruleVerdict](opts.CacheSize),
		tags:     newLRU[string](opts.CacheSize),
		keys:     newLRU[crypto.PublicKey](256),
		formats:  newLRU[string](opts.CacheSize),
	}, nil
}

// Verify checks one image reference against p. kc, when not nil, resolves
// credentials first (the pod's pull secrets). A nil p verifies nothing and
// allows. Verify never returns an error: registry and policy problems are
// verdicts, so that the caller can apply the policy's modes.
func (v *Verifier) Verify(ctx context.Context, p *Policy, image string, kc authn.Keychain) *Verdict {
	vd := &Verdict{Image: image, Outcome: Verified, Allowed: true}
	if p == nil {
		return vd
	}
	ref, err := name.ParseReference(image)
	if err != nil {
		return vd.fail(true, "is not a valid image reference: "+err.Error(), "use a reference such as registry.example/team/app@sha256:<digest>")
	}
	repo := repoName(ref.Context())
	vd.Repository = repo
	rules := p.match(repo)
	if len(rules) == 0 {
		vd.Outcome = Unmatched
		if p.unmatched == ActionAllow {
			return vd
		}
		return vd.fail(p.unmatched == ActionDeny, fmt.Sprintf("comes from repository %s, which no image policy covers", repo),
			"use an image covered by a policy in admission/images.yaml, or add a policy for "+repo)
	}
	vd.Mode = ModeWarn
	for _, r := range rules {
		vd.Policies = append(vd.Policies, r.name)
		if r.mode == ModeEnforce {
			vd.Mode = ModeEnforce
		}
	}
	v.verifications.Add(1)
	ctx, cancel := context.WithTimeout(ctx, v.opts.Timeout)
	defer cancel()
	c := &call{v: v, kc: kc}
	d, err := c.resolve(ctx, ref)
	if errors.Is(err, errImageNotFound) {
		return vd.fail(true, "was not found in its registry", "push the image or correct the reference")
	}
	if err != nil {
		return v.registryError(vd, rules, ref.Context().RegistryStr(), err)
	}
	digest := d.DigestStr()
	vd.Digest = digest
	_, vd.ByDigest = ref.(name.Digest)
	now := v.opts.Now()
	keys := make([]string, len(rules))
	results := make([]ruleVerdict, len(rules))
	missing := false
	for i, r := range rules {
		keys[i] = v.cacheKey(ctx, repo, digest, r)
		rv, fresh, ok := v.verdicts.get(keys[i], now)
		if ok && fresh {
			results[i] = rv
			continue
		}
		missing = true
	}
	vd.Cached = !missing
	if !missing {
		v.cacheHits.Add(1)
	} else {
		// One registry round trip per digest and policy revision, however
		// many admission requests ask concurrently and however many
		// authorities the rules name.
		res, err, _ := v.flight.Do(repo+"@"+digest+"|"+p.revision, func() (any, error) {
			v.fetches.Add(1)
			out, err := v.fetchAndEvaluate(ctx, c.puller(), repo, d, rules)
			if err != nil {
				return nil, err
			}
			if err := checkProvenance(ctx, c.puller(), d, rules, out); err != nil {
				return nil, err
			}
			for i := range rules {
				ttl := v.opts.TTL
				if !out[i].ok {
					ttl = v.opts.NegativeTTL
				}
				v.verdicts.put(keys[i], out[i], v.opts.Now().Add(ttl))
			}
			return out, nil
		})
		if err != nil {
			return v.registryError(vd, rules, ref.Context().RegistryStr(), err)
		}
		results = res.([]ruleVerdict)
	}
	for i, r := range rules {
		for _, k := range results[i].missing {
			if !slices.Contains(vd.MissingProvenance, k) {
				vd.MissingProvenance = append(vd.MissingProvenance, k)
			}
		}
		if len(results[i].missing) > 0 && r.provenanceMode == ModeEnforce {
			vd.ProvenanceEnforced = true
		}
	}
	var failed []string
	enforced := false
	for i, r := range rules {
		if results[i].ok {
			vd.Authorities = append(vd.Authorities, r.name+"/"+results[i].authority)
			continue
		}
		failed = append(failed, fmt.Sprintf("policy %s: %s", r.name, results[i].reason))
		enforced = enforced || r.mode == ModeEnforce
	}
	if len(failed) > 0 {
		what := "has no valid signature"
		if !vd.ByDigest {
			what = "(" + digest + ") " + what
		}
		return vd.fail(enforced, fmt.Sprintf("%s: %s", what, strings.Join(failed, "; ")),
			fmt.Sprintf("sign %s@%s with a key or identity that %s accepts (cosign sign [--key <key>] %s@%s), or use an image that is signed",
				repo, digest, policyList(rules), repo, digest))
	}
	if !vd.ByDigest {
		vd.Pinned = pin(image, digest)
	}
	return vd
}

// fetchAndEvaluate fetches the signatures of d, each artifact once, and
// evaluates every rule on them locally. It fetches the format that last
// verified in this repository first and stops there when every rule is
// satisfied, so a steady state costs what cosign's own verify costs.
func (v *Verifier) fetchAndEvaluate(ctx context.Context, p *remote.Puller, repo string, d name.Digest, rules []*rule) ([]ruleVerdict, error) {
	fetchers := []struct {
		format string
		fetch  func(context.Context, *remote.Puller, name.Digest, *artifacts) error
	}{{formatBundle, fetchBundles}, {formatClassic, fetchClassic}}
	if hint, _, ok := v.formats.get(repo, time.Time{}); ok && hint == formatClassic {
		fetchers[0], fetchers[1] = fetchers[1], fetchers[0]
	}
	digest := d.DigestStr()
	arts := &artifacts{}
	out := make([]ruleVerdict, len(rules))
	for i, f := range fetchers {
		if err := f.fetch(ctx, p, d, arts); err != nil {
			return nil, err
		}
		if i == 0 && len(arts.classic)+len(arts.bundles) == 0 {
			continue
		}
		all := true
		for j, r := range rules {
			out[j] = v.evaluate(ctx, r, arts, digest)
			all = all && out[j].ok
		}
		if all {
			v.formats.put(repo, f.format, time.Time{})
			return out, nil
		}
	}
	// The second pass evaluated everything against both formats.
	return out, nil
}

// Signature formats, for the per-repository hint.
const (
	formatBundle  = "bundle"
	formatClassic = "classic"
)

// cacheKey identifies a rule's verdict on a digest: the rule's revision and,
// for keys read from Secrets, their current fingerprints.
func (v *Verifier) cacheKey(ctx context.Context, repo, digest string, r *rule) string {
	k := repo + "@" + digest + "|" + r.revision
	for _, a := range r.authorities {
		if a.secret == nil {
			continue
		}
		key, err := v.secretKey(ctx, a.secret)
		if err != nil {
			k += "|-"
			continue
		}
		der, _ := cryptoutils.MarshalPublicKeyToDER(key)
		sum := sha256.Sum256(der)
		k += "|" + hex.EncodeToString(sum[:8])
	}
	return k
}

// evaluate tries every authority of r on the fetched signatures: any one
// satisfies the rule.
func (v *Verifier) evaluate(ctx context.Context, r *rule, arts *artifacts, digest string) ruleVerdict {
	if len(arts.classic) == 0 && len(arts.bundles) == 0 {
		reason := "no signatures found (neither a cosign .sig tag nor a Sigstore bundle referrer)"
		if len(arts.skipped) > 0 {
			reason += "; unusable: " + strings.Join(arts.skipped, "; ")
		}
		return ruleVerdict{reason: reason}
	}
	var why []string
	for _, a := range r.authorities {
		err := v.tryAuthority(ctx, a, arts, digest)
		if err == nil {
			return ruleVerdict{ok: true, authority: a.name}
		}
		why = append(why, fmt.Sprintf("authority %s: %v", a.name, err))
	}
	n := len(arts.classic) + len(arts.bundles)
	return ruleVerdict{reason: fmt.Sprintf("%d signature(s) found, none from an accepted authority (%s)", n, strings.Join(why, "; "))}
}

func (v *Verifier) tryAuthority(ctx context.Context, a *authority, arts *artifacts, digest string) error {
	key, bv := a.key, a.bv
	if a.secret != nil {
		k, err := v.secretKey(ctx, a.secret)
		if err != nil {
			return err
		}
		if bv, err = newKeyBundleVerifier(k); err != nil {
			return err
		}
		key = k
	}
	var errs []string
	note := func(err error) {
		if s := err.Error(); !slices.Contains(errs, s) {
			errs = append(errs, s)
		}
	}
	for i := range arts.classic {
		var err error
		if key != nil {
			err = verifyClassic(&arts.classic[i], key, digest)
		} else {
			err = bv.verifyClassicKeyless(&arts.classic[i], digest)
		}
		if err == nil {
			return nil
		}
		note(err)
	}
	for _, b := range arts.bundles {
		err := bv.verifyBundle(b, digest)
		if err == nil {
			return nil
		}
		if a.keyless == nil {
			// sigstore-go's message for another key is long; say it simply.
			err = errNoMatch
		}
		note(err)
	}
	return errors.New(strings.Join(errs, ", "))
}

// secretKey reads a public key from a Secret, cached for SecretTTL.
func (v *Verifier) secretKey(ctx context.Context, ref *SecretRef) (crypto.PublicKey, error) {
	id := ref.Namespace + "/" + ref.Name + "/" + ref.Key
	if k, fresh, ok := v.keys.get(id, v.opts.Now()); ok && fresh {
		return k, nil
	}
	if v.opts.Secrets == nil {
		return nil, fmt.Errorf("key Secret %s/%s: no Kubernetes access configured", ref.Namespace, ref.Name)
	}
	s, err := v.opts.Secrets.Secret(ctx, ref.Namespace, ref.Name)
	if err != nil {
		return nil, fmt.Errorf("key Secret %s/%s: %w", ref.Namespace, ref.Name, err)
	}
	raw, ok := s.Data[ref.Key]
	if !ok {
		return nil, fmt.Errorf("key Secret %s/%s has no key %q", ref.Namespace, ref.Name, ref.Key)
	}
	k, err := ParsePublicKey(raw)
	if err != nil {
		return nil, fmt.Errorf("key Secret %s/%s: %w", ref.Namespace, ref.Name, err)
	}
	v.keys.put(id, k, v.opts.Now().Add(v.opts.SecretTTL))
	return k, nil
}
