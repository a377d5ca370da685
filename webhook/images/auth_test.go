package images

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func newKeyPEM(t testing.TB) (*ecdsa.PrivateKey, string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p, err := cryptoutils.MarshalPublicKeyToPEM(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	return k, string(p)
}

type fakeSecrets struct {
	secrets map[string]*corev1.Secret
	sas     map[string]*corev1.ServiceAccount
}

func (f *fakeSecrets) Secret(_ context.Context, ns, n string) (*corev1.Secret, error) {
	if s, ok := f.secrets[ns+"/"+n]; ok {
		return s, nil
	}
	return nil, fmt.Errorf("secret %s/%s: %w", ns, n, ErrNotFound)
}

func (f *fakeSecrets) ServiceAccount(_ context.Context, ns, n string) (*corev1.ServiceAccount, error) {
	if s, ok := f.sas[ns+"/"+n]; ok {
		return s, nil
	}
	return nil, fmt.Errorf("service account %s/%s: %w", ns, n, ErrNotFound)
}

func dockerSecret(host, user, pass string) *corev1.Secret {
	return &corev1.Secret{
		Type: corev1.SecretTypeDockerConfigJson,
		Data: map[string][]byte{corev1.DockerConfigJsonKey: []byte(`{"auths":{"` + host + `":{"username":"` + user + `","password":"` + pass + `"}}}`)},
	}
}

func TestPullSecretsKeychain(t *testing.T) {
	t.Parallel()
	r := &fakeSecrets{
		secrets: map[string]*corev1.Secret{
			"team-a/pod":  dockerSecret("pod.example", "pod-user", "p1"),
			"team-a/sa":   dockerSecret("https://index.docker.io/v1/", "hub-user", "p2"),
			"team-a/wild": dockerSecret("*.corp.example", "wild-user", "p3"),
		},
		sas: map[string]*corev1.ServiceAccount{
			"team-a/bot": {ObjectMeta: metav1.ObjectMeta{Name: "bot"}, ImagePullSecrets: []corev1.LocalObjectReference{{Name: "sa"}, {Name: "wild"}}},
		},
	}
	spec := &corev1.PodSpec{ServiceAccountName: "bot", ImagePullSecrets: []corev1.LocalObjectReference{{Name: "pod"}, {Name: "missing"}}}
	kc, err := PullSecretsKeychain(context.Background(), r, "team-a", spec)
	if err != nil {
		t.Fatal(err)
	}
	for image, want := range map[string]string{
		"pod.example/app":            "pod-user",
		"busybox":                    "hub-user",
		"docker.io/acme/app":         "hub-user",
		"registry.corp.example/team": "wild-user",
		"other.example/app":          "",
	} {
		ref, err := name.ParseReference(image)
		if err != nil {
			t.Fatal(err)
		}
		a, err := kc.Resolve(ref.Context())
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := a.Authorization()
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Username != want {
			t.Errorf("%s: user %q, want %q", image, cfg.Username, want)
		}
		if want == "" && a != authn.Anonymous {
			t.Errorf("%s: not anonymous", image)
		}
	}
	if _, err := PullSecretsKeychain(context.Background(), &fakeSecrets{secrets: map[string]*corev1.Secret{
		"team-a/pod": {Type: corev1.SecretTypeOpaque},
	}}, "team-a", spec); err == nil {
		t.Error("an Opaque pull secret was accepted")
	}
}
