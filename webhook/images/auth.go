package images

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	corev1 "k8s.io/api/core/v1"
)

// SecretReader reads the Kubernetes objects registry credentials and keys
// come from. ClusterSecrets implements it over a Kubernetes client.
type SecretReader interface {
	// Secret returns a Secret; an error wrapping ErrNotFound when absent.
	Secret(ctx context.Context, namespace, name string) (*corev1.Secret, error)
	// ServiceAccount returns a ServiceAccount; an error wrapping
	// ErrNotFound when absent.
	ServiceAccount(ctx context.Context, namespace, name string) (*corev1.ServiceAccount, error)
}

// ErrNotFound is wrapped by SecretReader errors for absent objects.
var ErrNotFound = errors.New("not found")

// PullSecretsKeychain returns a keychain over the docker config Secrets a
// pod may pull with: its imagePullSecrets and those of its ServiceAccount
// (default "default"), as the kubelet does. Missing Secrets are skipped, like
// the kubelet does; other read errors are returned. Credentials are never
// part of an error or a verdict.
func PullSecretsKeychain(ctx context.Context, r SecretReader, namespace string, spec *corev1.PodSpec) (authn.Keychain, error) {
	if r == nil || spec == nil || namespace == "" {
		return authn.NewMultiKeychain(), nil
	}
	var names []string
	for _, s := range spec.ImagePullSecrets {
		names = append(names, s.Name)
	}
	sa := spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	switch acct, err := r.ServiceAccount(ctx, namespace, sa); {
	case errors.Is(err, ErrNotFound):
	case err != nil:
		return nil, fmt.Errorf("service account %s/%s: %w", namespace, sa, err)
	default:
		for _, s := range acct.ImagePullSecrets {
			names = append(names, s.Name)
		}
	}
	kc := &dockerKeychain{}
	for _, n := range names {
		sec, err := r.Secret(ctx, namespace, n)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("image pull secret %s/%s: %w", namespace, n, err)
		}
		if err := kc.addSecret(sec); err != nil {
			return nil, fmt.Errorf("image pull secret %s/%s: %w", namespace, n, err)
		}
	}
	return kc, nil
}

// DockerConfigKeychain returns a keychain over a docker config.json
// document ({"auths": {...}}).
func DockerConfigKeychain(configJSON []byte) (authn.Keychain, error) {
	kc := &dockerKeychain{}
	if err := kc.addConfig(configJSON, true); err != nil {
		return nil, err
	}
	return kc, nil
}

// dockerKeychain resolves credentials from docker config entries, first
// match wins (the kubelet's order: pod secrets before ServiceAccount ones).
type dockerKeychain struct {
	entries []dockerEntry
}

type dockerEntry struct {
	host string // normalized; may start with "*."
	path string // repository prefix, may be ""
	cfg  authn.AuthConfig
}

type dockerAuth struct {
	Username      string `json:"username,omitempty"`
	Password      string `json:"password,omitempty"`
	Auth          string `json:"auth,omitempty"`
	IdentityToken string `json:"identitytoken,omitempty"`
	RegistryToken string `json:"registrytoken,omitempty"`
}

func (k *dockerKeychain) addSecret(s *corev1.Secret) error {
	switch s.Type {
	case corev1.SecretTypeDockerConfigJson:
		return k.addConfig(s.Data[corev1.DockerConfigJsonKey], true)
	case corev1.SecretTypeDockercfg:
		return k.addConfig(s.Data[corev1.DockerConfigKey], false)
	}
	return fmt.Errorf("type %q: want %s or %s", s.Type, corev1.SecretTypeDockerConfigJson, corev1.SecretTypeDockercfg)
}

func (k *dockerKeychain) addConfig(data []byte, wrapped bool) error {
	var auths map[string]dockerAuth
	if wrapped {
		var doc struct {
			Auths map[string]dockerAuth `json:"auths"`
		}
		if err := json.Unmarshal(data, &doc); err != nil {
			return errors.New("malformed docker config") // never echo the content
		}
		auths = doc.Auths
	} else if err := json.Unmarshal(data, &auths); err != nil {
		return errors.New("malformed docker config")
	}
	for key, a := range auths {
		cfg := authn.AuthConfig{Username: a.Username, Password: a.Password, IdentityToken: a.IdentityToken, RegistryToken: a.RegistryToken}
		if a.Auth != "" && cfg.Username == "" {
			raw, err := base64.StdEncoding.DecodeString(a.Auth)
			if err != nil {
				return errors.New("malformed auth field in docker config")
			}
			u, p, ok := strings.Cut(string(raw), ":")
			if !ok {
				return errors.New("malformed auth field in docker config")
			}
			cfg.Username, cfg.Password = u, p
		}
		host, p := splitConfigKey(key)
		k.entries = append(k.entries, dockerEntry{host: host, path: p, cfg: cfg})
	}
	return nil
}

// splitConfigKey normalizes a docker config key ("https://index.docker.io/v1/",
// "registry.example:5000/team") into a host and a repository path prefix.
func splitConfigKey(key string) (host, path string) {
	key = strings.TrimPrefix(strings.TrimPrefix(key, "https://"), "http://")
	host, path, _ = strings.Cut(key, "/")
	if path == "v1/" || path == "v1" || path == "v2/" || path == "v2" {
		path = ""
	}
	return normalizeHost(host), strings.TrimSuffix(path, "/")
}

func normalizeHost(h string) string {
	switch h = strings.ToLower(h); h {
	case "docker.io", "index.docker.io", "registry-1.docker.io":
		return "index.docker.io"
	}
	return h
}

// Resolve implements authn.Keychain.
func (k *dockerKeychain) Resolve(target authn.Resource) (authn.Authenticator, error) {
	host := normalizeHost(target.RegistryStr())
	repo := ""
	if r, ok := target.(interface{ RepositoryStr() string }); ok {
		repo = r.RepositoryStr()
	}
	for _, e := range k.entries {
		if !hostMatch(e.host, host) {
			continue
		}
		if e.path != "" && repo != e.path && !strings.HasPrefix(repo, e.path+"/") {
			continue
		}
		return authn.FromConfig(e.cfg), nil
	}
	return authn.Anonymous, nil
}

func hostMatch(pattern, host string) bool {
	if suffix, ok := strings.CutPrefix(pattern, "*."); ok {
		h, _, _ := strings.Cut(host, ":")
		return strings.HasSuffix(h, "."+suffix)
	}
	return pattern == host
}

var _ authn.Keychain = (*dockerKeychain)(nil)

// PodKeychain returns the credentials a pod in namespace pulls with (its
// imagePullSecrets and its ServiceAccount's), read through the verifier's
// SecretReader; with none configured, the verifier's own keychain applies.
func (v *Verifier) PodKeychain(ctx context.Context, namespace string, spec *corev1.PodSpec) (authn.Keychain, error) {
	return PullSecretsKeychain(ctx, v.opts.Secrets, namespace, spec)
}
