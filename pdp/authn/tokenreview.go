package authn

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/cedar-policy/cedar-go/types"
	"golang.org/x/sync/singleflight"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	authenticationv1client "k8s.io/client-go/kubernetes/typed/authentication/v1"
)

// Keys of TokenReview status.user.extra set by the kube-apiserver for
// ServiceAccount tokens.
const (
	ExtraPodName      = "authentication.kubernetes.io/pod-name"
	ExtraPodUID       = "authentication.kubernetes.io/pod-uid"
	ExtraCredentialID = "authentication.kubernetes.io/credential-id"
)

const serviceAccountUserPrefix = "system:serviceaccount:"

// TokenReviewOptions configures NewTokenReview.
type TokenReviewOptions struct {
	// Client creates TokenReviews, e.g.
	// kubernetes.NewForConfig(cfg).AuthenticationV1().TokenReviews().
	// Required.
	Client authenticationv1client.TokenReviewInterface
	// Audience is the PDP's own audience. The apiserver must confirm that
	// the token was issued for it. Required.
	Audience string
	// CacheTTL bounds how long an accepted token is remembered; a token's
	// own expiry (its `exp` claim) ends the entry earlier. It is also about
	// how long a token may outlive its pod: AG-SEC-007 allows 60s, and the
	// kube-apiserver itself caches successful authentications for 10s, so
	// keep it at 50s or less. Default 30s; negative disables the cache.
	CacheTTL time.Duration
	// NegativeCacheTTL is how long a refused token is remembered, so that a
	// caller retrying a bad token does not hammer the apiserver. Default
	// 10s; negative disables.
	NegativeCacheTTL time.Duration
	// CacheSize bounds the number of remembered tokens (least recently used
	// go first). Default 10000.
	CacheSize int
	// Timeout bounds one TokenReview call. Default 5s.
	Timeout time.Duration
	// AllowUnboundTokens accepts ServiceAccount tokens that are not bound to
	// a pod (say, from `kubectl create token` without --bound-object-kind
	// Pod). Such a token outlives the workload it was issued for, which
	// AG-SEC-007 forbids, and carries no pod UID to tell replicas apart
	// (AG-SEC-002). Default false: the projected tokens the kubelet mounts
	// are always pod-bound.
	AllowUnboundTokens bool
	// Principal maps a ServiceAccount to the Cedar principal. Default
	// AgentPrincipal (Agent::"<ns>/<sa>").
	Principal func(namespace, serviceAccount string) types.EntityUID
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

func (o *TokenReviewOptions) setDefaults() {
	if o.CacheTTL == 0 {
		o.CacheTTL = 30 * time.Second
	}
	if o.NegativeCacheTTL == 0 {
		o.NegativeCacheTTL = 10 * time.Second
	}
	if o.CacheSize <= 0 {
		o.CacheSize = 10000
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.Principal == nil {
		o.Principal = AgentPrincipal
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// TokenReview authenticates Kubernetes ServiceAccount bearer tokens with the
// kube-apiserver's TokenReview API.
type TokenReview struct {
	opts  TokenReviewOptions
	cache *resultCache
	group singleflight.Group
}

var _ Authenticator = (*TokenReview)(nil)

// NewTokenReview returns a TokenReview authenticator.
func NewTokenReview(opts TokenReviewOptions) (*TokenReview, error) {
	if opts.Client == nil {
		return nil, errors.New("tokenreview authenticator: Client is required")
	}
	if strings.TrimSpace(opts.Audience) == "" {
		return nil, errors.New("tokenreview authenticator: Audience is required (the PDP's own audience; never accept tokens for any audience)")
	}
	opts.setDefaults()
	return &TokenReview{opts: opts, cache: newResultCache(opts.CacheSize)}, nil
}

// Authenticate validates the request's bearer token. It returns
// ErrNoCredentials without one, an ErrUnauthenticated error if the apiserver
// refuses it, and an ErrUnavailable error if the apiserver cannot be asked.
func (t *TokenReview) Authenticate(r *http.Request) (*Identity, error) {
	token, err := BearerToken(r)
	if err != nil {
		return nil, err
	}
	if !isJWS(token) {
		return nil, unauthenticated("bearer token is not a JWT")
	}
	key := tokenKey(sha256.Sum256([]byte(token)))
	if e, ok := t.cache.get(key, t.opts.Now()); ok {
		return e.id.Clone(), e.err
	}
	// Concurrent requests with the same token share one TokenReview. The
	// shared call must not die with the first caller's request.
	ctx := context.WithoutCancel(r.Context())
	v, _, _ := t.group.Do(string(key[:]), func() (any, error) {
		return t.review(ctx, token, key), nil
	})
	e := v.(cacheEntry)
	return e.id.Clone(), e.err
}

// review asks the apiserver about token and caches the answer.
func (t *TokenReview) review(ctx context.Context, token string, key tokenKey) cacheEntry {
	ctx, cancel := context.WithTimeout(ctx, t.opts.Timeout)
	defer cancel()
	res, err := t.opts.Client.Create(ctx, &authenticationv1.TokenReview{
		Spec: authenticationv1.TokenReviewSpec{Token: token, Audiences: []string{t.opts.Audience}},
	}, metav1.CreateOptions{})
	if err != nil {
		// Not cached: the next request asks again.
		return cacheEntry{err: unavailable("tokenreview: %s", redact(err.Error(), token))}
	}
	now := t.opts.Now()
	id, err := t.identity(res.Status, token)
	if err != nil {
		e := cacheEntry{key: key, err: err, expires: now.Add(t.opts.NegativeCacheTTL)}
		if t.opts.NegativeCacheTTL > 0 {
			t.cache.put(e)
		}
		return e
	}
	e := cacheEntry{key: key, id: id, expires: now.Add(t.opts.CacheTTL)}
	if !id.Expiry.IsZero() && id.Expiry.Before(e.expires) {
		e.expires = id.Expiry
	}
	if t.opts.CacheTTL > 0 && e.expires.After(now) {
		t.cache.put(e)
	}
	return e
}

// identity turns a TokenReview status into an Identity, or a refusal.
func (t *TokenReview) identity(st authenticationv1.TokenReviewStatus, token string) (*Identity, error) {
	if !st.Authenticated {
		reason := "token refused by the apiserver"
		if st.Error != "" {
			reason += ": " + redact(st.Error, token)
		}
		return nil, unauthenticated("%s", reason)
	}
	if !slices.Contains(st.Audiences, t.opts.Audience) {
		return nil, unauthenticated("token not issued for audience %q", t.opts.Audience)
	}
	ns, sa, ok := parseServiceAccountUser(st.User.Username)
	if !ok {
		return nil, unauthenticated("user %q is not a service account", st.User.Username)
	}
	id := &Identity{
		Kind:           KindServiceAccount,
		Principal:      t.opts.Principal(ns, sa),
		Namespace:      ns,
		ServiceAccount: sa,
		PodName:        extra(st.User.Extra, ExtraPodName),
		PodUID:         extra(st.User.Extra, ExtraPodUID),
		CredentialID:   extra(st.User.Extra, ExtraCredentialID),
		Username:       st.User.Username,
		Groups:         slices.Clone(st.User.Groups),
	}
	if !t.opts.AllowUnboundTokens && (id.PodName == "" || id.PodUID == "") {
		return nil, unauthenticated("token of %s/%s is not bound to a pod", ns, sa)
	}
	// The apiserver has verified the token's signature, so its claims are
	// authentic now.
	id.Expiry, id.IssuedAt = unverifiedTimes(token)
	return id, nil
}

// parseServiceAccountUser splits "system:serviceaccount:<ns>:<sa>".
func parseServiceAccountUser(user string) (ns, sa string, ok bool) {
	rest, ok := strings.CutPrefix(user, serviceAccountUserPrefix)
	if !ok {
		return "", "", false
	}
	ns, sa, ok = strings.Cut(rest, ":")
	if !ok || ns == "" || sa == "" || strings.ContainsAny(sa, ":/") || strings.Contains(ns, "/") {
		return "", "", false
	}
	return ns, sa, true
}

func extra(m map[string]authenticationv1.ExtraValue, key string) string {
	if v := m[key]; len(v) == 1 {
		return v[0]
	}
	return ""
}

// redact removes the token from s, in case a dependency ever echoes it.
func redact(s, token string) string {
	if token == "" {
		return s
	}
	return strings.ReplaceAll(s, token, "[redacted]")
}

// String describes t without secrets.
func (t *TokenReview) String() string {
	return fmt.Sprintf("tokenreview(audience=%q)", t.opts.Audience)
}
