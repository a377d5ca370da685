package images

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// call is the registry state of one Verify call.
type call struct {
	v  *Verifier
	kc authn.Keychain
	p  *remote.Puller
}

// puller is created on first use, so a cached verdict costs no setup; it
// is reused for every request of the call (one ping, one token).
func (c *call) puller() *remote.Puller {
	if c.p == nil {
		kc := c.v.opts.Keychain
		if c.kc != nil {
			kc = authn.NewMultiKeychain(c.kc, kc)
		}
		// NewPuller fails only on conflicting options, which these are not.
		c.p, _ = remote.NewPuller(
			remote.WithAuthFromKeychain(kc),
			remote.WithTransport(c.v.opts.Transport),
			remote.WithUserAgent("agentguard"),
			remote.WithRetryBackoff(remote.Backoff{Duration: 50 * time.Millisecond, Factor: 2, Steps: 2}),
		)
	}
	return c.p
}

// errImageNotFound is returned by resolve when the registry has no such
// tag or repository.
var errImageNotFound = errors.New("image not found")

// resolve returns the digest ref names. A tag is resolved with one HEAD
// request; while the registry is unreachable, the tag's last resolution
// within TTL is used.
func (c *call) resolve(ctx context.Context, ref name.Reference) (name.Digest, error) {
	if d, ok := ref.(name.Digest); ok {
		return d, nil
	}
	key := ref.Name()
	desc, err := c.puller().Head(ctx, ref)
	switch {
	case isNotFound(err):
		return name.Digest{}, errImageNotFound
	case err != nil:
		if dg, fresh, ok := c.v.tags.get(key, c.v.opts.Now()); ok && fresh {
			return ref.Context().Digest(dg), nil
		}
		return name.Digest{}, err
	}
	dg := desc.Digest.String()
	c.v.tags.put(key, dg, c.v.opts.Now().Add(c.v.opts.TTL))
	return ref.Context().Digest(dg), nil
}

// repoName is the repository as policies match it: Docker Hub is
// "docker.io", not ggcr's "index.docker.io".
func repoName(r name.Repository) string {
	reg := r.RegistryStr()
	if reg == name.DefaultRegistry {
		reg = "docker.io"
	}
	return reg + "/" + r.RepositoryStr()
}

// pin rewrites image (a tag reference, as written) to reference digest,
// keeping the written repository.
func pin(image, digest string) string {
	repo := image
	if slash := strings.LastIndex(image, "/"); strings.LastIndex(image, ":") > slash {
		repo = image[:strings.LastIndex(image, ":")]
	}
	return repo + "@" + digest
}
