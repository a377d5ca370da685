package e2e

import (
	"context"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/agentguard/agentguard/webhook/guardrails"
	"github.com/agentguard/agentguard/webhook/images/imagestest"
)

// TestSignedImagesAgainstKubeAPIServer: with an image policy in the bundle,
// a Deployment whose tagged image is signed is admitted with the image
// pinned to the signed digest, and an unsigned one is refused with
// [AG-GEN-004]. Images live in an in-process registry; the webhook uses the
// server's default verifier.
func TestSignedImagesAgainstKubeAPIServer(t *testing.T) {
	reg := imagestest.NewRegistry(t)
	key, pemKey := imagestest.NewKey(t)
	signed := reg.PushImage(t, "agents/bot", "v1")
	reg.SignClassic(t, "agents/bot", signed, signed, key)
	reg.PushImage(t, "agents/unsigned", "v1")

	var pemLines strings.Builder
	for _, l := range strings.Split(strings.TrimSpace(pemKey), "\n") {
		pemLines.WriteString("            " + l + "\n")
	}
	bundle := fstest.MapFS{
		"admission/config.yaml": {Data: []byte("scope: agents\n")},
		"admission/images.yaml": {Data: []byte(`unmatched: deny
policies:
  - name: agents
    images: ["` + reg.Host + `/agents/**"]
    authorities:
      - name: release-key
        key:
          pem: |
` + pemLines.String())},
	}
	e, err := guardrails.LoadBundleFS(context.Background(), bundle, "images-e2e")
	if err != nil {
		t.Fatal(err)
	}

	c := startCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	wp := startWebhookWith(t, c, e)
	_, err = c.client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{Name: "agents", Labels: map[string]string{guardrails.LabelTenant: "agents"}},
	}, metav1.CreateOptions{})
	must(t, err, "create namespace")
	registerWebhooks(ctx, t, c, wp)
	waitForWebhook(ctx, t, c)

	deployment := func(name, image string) *appsv1.Deployment {
		labels := map[string]string{guardrails.LabelAgent: name}
		return &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: appsv1.DeploymentSpec{
				Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec: corev1.PodSpec{
						ServiceAccountName: name,
						Containers:         []corev1.Container{{Name: "app", Image: image}},
					},
				},
			},
		}
	}
	deps := c.client.AppsV1().Deployments("agents")

	got, err := deps.Create(ctx, deployment("bot", reg.Host+"/agents/bot:v1"), metav1.CreateOptions{})
	must(t, err, "create the signed Deployment")
	if img, want := got.Spec.Template.Spec.Containers[0].Image, reg.Host+"/agents/bot@"+signed; img != want {
		t.Errorf("stored image %q, want it pinned to %q", img, want)
	}

	_, err = deps.Create(ctx, deployment("unsigned", reg.Host+"/agents/unsigned:v1"), metav1.CreateOptions{})
	if err == nil || !strings.Contains(err.Error(), `[AG-GEN-004] container "app": image "`+reg.Host+`/agents/unsigned:v1"`) ||
		!strings.Contains(err.Error(), "no signatures found") {
		t.Errorf("unsigned Deployment: err = %v", err)
	}

	_, err = deps.Create(ctx, deployment("hub", "docker.io/library/busybox:1.36"), metav1.CreateOptions{})
	if err == nil || !strings.Contains(err.Error(), "[AG-GEN-004]") || !strings.Contains(err.Error(), "no image policy covers") {
		t.Errorf("unmatched Deployment: err = %v", err)
	}
}
