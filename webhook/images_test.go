package webhook

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"testing/fstest"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/agentguard/agentguard/webhook/guardrails"
	"github.com/agentguard/agentguard/webhook/images"
	"github.com/agentguard/agentguard/webhook/images/imagestest"
)

// imageBundle is a bundle whose only guardrail of interest is the image
// policy: images under <registry>/signed/ need the key's signature.
func imageEngine(t *testing.T, host, pemKey string) *guardrails.Engine {
	t.Helper()
	var key strings.Builder
	for _, l := range strings.Split(strings.TrimSpace(pemKey), "\n") {
		key.WriteString("            " + l + "\n")
	}
	fsys := fstest.MapFS{
		"admission/config.yaml": {Data: []byte("scope: agents\n")},
		"admission/images.yaml": {Data: []byte(`apiVersion: agentguard.io/v1alpha1
kind: ImagePolicy
unmatched: deny
policies:
  - name: release
    images: ["` + host + `/signed/**"]
    authorities:
      - name: release-key
        key:
          pem: |
` + key.String())},
	}
	e, err := guardrails.LoadBundleFS(context.Background(), fsys, "test")
	if err != nil {
		t.Fatal(err)
	}
	if e.Images() == nil {
		t.Fatal("bundle loaded without its image policy")
	}
	return e
}

func agentPod(image string) *corev1.Pod {
	return &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: "bot", Namespace: "team-a", Labels: map[string]string{guardrails.LabelAgent: "bot"}},
		Spec:       corev1.PodSpec{ServiceAccountName: "bot", Containers: []corev1.Container{{Name: "app", Image: image}}},
	}
}

func imageViolations(d *guardrails.Decision) []guardrails.Violation {
	var out []guardrails.Violation
	for _, v := range d.Violations {
		if v.Check == "images" {
			out = append(out, v)
		}
	}
	return out
}

func TestReviewerImages(t *testing.T) {
	t.Parallel()
	reg := imagestest.NewRegistry(t)
	key, pemKey := imagestest.NewKey(t)
	signed := reg.PushImage(t, "signed/bot", "v1")
	reg.SignClassic(t, "signed/bot", signed, signed, key)
	reg.PushImage(t, "signed/unsigned", "v1")
	reg.PushImage(t, "signed/never-seen", "v1")
	e := imageEngine(t, reg.Host, pemKey)
	v, err := images.NewVerifier(images.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rv := &Reviewer{Namespaces: testNamespaces, Images: v}
	ctx := context.Background()

	t.Run("deployment by tag is pinned and admitted", func(t *testing.T) {
		dep := &appsv1.Deployment{
			TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
			ObjectMeta: metav1.ObjectMeta{Name: "bot", Namespace: "team-a"},
			Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{guardrails.LabelAgent: "bot"}},
				Spec:       agentPod(reg.Host + "/signed/bot:v1").Spec,
			}},
		}
		obj, _ := json.Marshal(dep)
		res, err := rv.Admit(ctx, e, &Request{Kind: schema.GroupKind{Group: "apps", Kind: "Deployment"}, Operation: "CREATE", Namespace: "team-a", Object: obj}, true)
		if err != nil {
			t.Fatal(err)
		}
		want := PatchOp{Op: "replace", Path: "/spec/template/spec/containers/0/image", Value: reg.Host + "/signed/bot@" + signed}
		found := false
		for _, op := range res.Mutation.Patch {
			if op.Path == want.Path {
				found = op.Op == want.Op && op.Value == want.Value
			}
		}
		if !found {
			t.Errorf("no pin %+v in %+v", want, res.Mutation.Patch)
		}
		if vs := imageViolations(res.Decision); len(vs) > 0 {
			t.Errorf("image violations after pinning: %+v", vs)
		}
	})

	t.Run("init container and image volume are pinned too", func(t *testing.T) {
		pod := agentPod(reg.Host + "/signed/bot@" + signed)
		pod.Spec.InitContainers = []corev1.Container{{Name: "setup", Image: reg.Host + "/signed/bot:v1"}}
		pod.Spec.Volumes = []corev1.Volume{{Name: "model", VolumeSource: corev1.VolumeSource{Image: &corev1.ImageVolumeSource{Reference: reg.Host + "/signed/bot:v1"}}}}
		obj, _ := json.Marshal(pod)
		res, err := rv.Admit(ctx, e, &Request{Kind: schema.GroupKind{Kind: "Pod"}, Operation: "CREATE", Namespace: "team-a", Object: obj}, true)
		if err != nil {
			t.Fatal(err)
		}
		pins := map[string]any{}
		for _, op := range res.Mutation.Patch {
			if op.Op == "replace" {
				pins[op.Path] = op.Value
			}
		}
		want := map[string]any{
			"/spec/initContainers/0/image":    reg.Host + "/signed/bot@" + signed,
			"/spec/volumes/0/image/reference": reg.Host + "/signed/bot@" + signed,
		}
		if len(pins) != len(want) || pins["/spec/initContainers/0/image"] != want["/spec/initContainers/0/image"] ||
			pins["/spec/volumes/0/image/reference"] != want["/spec/volumes/0/image/reference"] {
			t.Errorf("pins %v, want %v", pins, want)
		}
		if vs := imageViolations(res.Decision); len(vs) > 0 {
			t.Errorf("image violations: %+v", vs)
		}
	})

	cases := []struct {
		name   string
		image  string
		mutate bool
		down   bool
		wantID string
		want   string
	}{
		{name: "unsigned", image: reg.Host + "/signed/unsigned:v1", mutate: true, wantID: "AG-GEN-004", want: "no signatures found"},
		{name: "tag not pinned in validation", image: reg.Host + "/signed/bot:v1", wantID: "AG-GEN-004", want: "not pinned by digest"},
		{name: "unmatched", image: "docker.io/library/busybox:1.36", mutate: true, wantID: "AG-GEN-004", want: "no image policy covers"},
		{name: "registry down", image: reg.Host + "/signed/never-seen:v1", mutate: true, down: true, wantID: "AG-GEN-003", want: "registry " + reg.Host + " failed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.down {
				reg.Down.Store(true)
				defer reg.Down.Store(false)
			}
			obj, _ := json.Marshal(agentPod(tc.image))
			res, err := rv.Admit(ctx, e, &Request{Kind: schema.GroupKind{Kind: "Pod"}, Operation: "CREATE", Namespace: "team-a", Object: obj}, tc.mutate)
			if err != nil {
				t.Fatal(err)
			}
			vs := imageViolations(res.Decision)
			if len(vs) != 1 || res.Decision.Allowed {
				t.Fatalf("allowed %v, image violations %+v", res.Decision.Allowed, vs)
			}
			msg := vs[0].Message
			prefix := "[" + tc.wantID + "] container \"app\": image \"" + tc.image + "\""
			if vs[0].ID != tc.wantID || vs[0].Mode != guardrails.ModeEnforce || !strings.HasPrefix(msg, prefix) ||
				!strings.Contains(msg, tc.want) || !strings.Contains(msg, "fix:") {
				t.Errorf("violation %+v\nwant prefix %q and %q", vs[0], prefix, tc.want)
			}
		})
	}

	t.Run("non-agent pod is not checked", func(t *testing.T) {
		pod := agentPod("docker.io/library/busybox:1.36")
		pod.Namespace, pod.Labels = "default", nil
		obj, _ := json.Marshal(pod)
		res, err := rv.Admit(ctx, e, &Request{Kind: schema.GroupKind{Kind: "Pod"}, Operation: "CREATE", Namespace: "default", Object: obj}, true)
		if err != nil {
			t.Fatal(err)
		}
		if vs := imageViolations(res.Decision); len(vs) > 0 {
			t.Errorf("got %+v", vs)
		}
	})
}

// TestLoadBundleRefusesBadImagePolicy: a broken images.yaml refuses the
// whole bundle (the last good one stays active).
func TestLoadBundleRefusesBadImagePolicy(t *testing.T) {
	t.Parallel()
	for name, doc := range map[string]string{
		"unknown field":            "policies: []\nfoo: 1\n",
		"no authorities":           "policies:\n- name: a\n  images: [\"x/**\"]\n",
		"bad key":                  "policies:\n- name: a\n  images: [\"x/**\"]\n  authorities: [{key: {pem: nope}}]\n",
		"keyless, no trusted root": "policies:\n- name: a\n  images: [\"x/**\"]\n  authorities: [{keyless: {subject: a, issuer: b}}]\n",
		"missing key file":         "policies:\n- name: a\n  images: [\"x/**\"]\n  authorities: [{key: {file: k.pub}}]\n",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := guardrails.LoadBundleFS(context.Background(), fstest.MapFS{"admission/images.yaml": {Data: []byte(doc)}}, "test")
			if err == nil || !strings.Contains(err.Error(), images.PolicyFile) {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

// TestServerImages goes through the HTTP handlers with the server's
// default verifier: /mutate pins a signed Deployment's tag, /validate admits
// the pinned Deployment and refuses an unsigned Pod with [AG-GEN-004].
func TestServerImages(t *testing.T) {
	t.Parallel()
	reg := imagestest.NewRegistry(t)
	key, pemKey := imagestest.NewKey(t)
	signed := reg.PushImage(t, "signed/bot", "v1")
	reg.SignClassic(t, "signed/bot", signed, signed, key)
	unsigned := reg.PushImage(t, "signed/unsigned", "v1")
	s := newTestServer(t, Options{})
	s.SetEngine(imageEngine(t, reg.Host, pemKey))
	h := s.Handler()

	dep := &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: "bot", Namespace: "team-a"},
		Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{guardrails.LabelAgent: "bot"}},
			Spec:       agentPod(reg.Host + "/signed/bot:v1").Spec,
		}},
	}
	resp := decodeResponse(t, post(h, "/mutate", reviewFor(t, "apps", "Deployment", "team-a", "CREATE", dep, nil), "application/json"))
	var ops []PatchOp
	if err := json.Unmarshal(resp.Patch, &ops); err != nil {
		t.Fatal(err)
	}
	pinned := reg.Host + "/signed/bot@" + signed
	found := false
	for _, op := range ops {
		found = found || (op.Path == "/spec/template/spec/containers/0/image" && op.Value == pinned)
	}
	if !resp.Allowed || !found {
		t.Fatalf("mutate: allowed %v, patch %s", resp.Allowed, resp.Patch)
	}
	dep.Spec.Template.Spec.Containers[0].Image = pinned
	resp = decodeResponse(t, post(h, "/validate", reviewFor(t, "apps", "Deployment", "team-a", "CREATE", dep, nil), "application/json"))
	if resp.Result != nil && (strings.Contains(resp.Result.Message, "AG-GEN-004") || strings.Contains(resp.Result.Message, "AG-GEN-003")) {
		t.Errorf("validate pinned: %s", resp.Result.Message)
	}
	resp = decodeResponse(t, post(h, "/validate", reviewFor(t, "", "Pod", "team-a", "CREATE", agentPod(reg.Host+"/signed/unsigned@"+unsigned), nil), "application/json"))
	if resp.Allowed || resp.Result == nil || !strings.Contains(resp.Result.Message, `[AG-GEN-004] container "app": image "`+reg.Host+"/signed/unsigned@"+unsigned+`" has no valid signature`) {
		t.Errorf("validate unsigned: %+v", resp.Result)
	}
}

// TestImagesMode: admission/config.yaml modes soften image violations by
// check name.
func TestImagesMode(t *testing.T) {
	t.Parallel()
	_, pemKey := imagestest.NewKey(t)
	var key strings.Builder
	for _, l := range strings.Split(strings.TrimSpace(pemKey), "\n") {
		key.WriteString("        " + l + "\n")
	}
	e, err := guardrails.LoadBundleFS(context.Background(), fstest.MapFS{
		"admission/config.yaml": {Data: []byte("modes:\n  images: warn\n")},
		"admission/images.yaml": {Data: []byte("policies:\n- name: p\n  images: [\"registry.corp.example/**\"]\n  authorities:\n  - key:\n      pem: |\n" + key.String())},
	}, "test")
	if err != nil {
		t.Fatal(err)
	}
	v, err := images.NewVerifier(images.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rv := &Reviewer{Namespaces: testNamespaces, Images: v}
	obj, _ := json.Marshal(agentPod("docker.io/library/busybox:1.36"))
	res, err := rv.Validate(context.Background(), e, &Request{Kind: schema.GroupKind{Kind: "Pod"}, Operation: "CREATE", Namespace: "team-a", Object: obj})
	if err != nil {
		t.Fatal(err)
	}
	vs := imageViolations(res.Decision)
	if len(vs) != 1 || vs[0].Mode != guardrails.ModeWarn {
		t.Fatalf("got %+v", vs)
	}
}

// TestReviewerProvenance: an image lacking the provenance its policy
// requires is refused with [AG-GEN-005].
func TestReviewerProvenance(t *testing.T) {
	t.Parallel()
	reg := imagestest.NewRegistry(t)
	key, pemKey := imagestest.NewKey(t)
	d := reg.PushImageWithMetadata(t, "signed/bot", "v1", nil, map[string]string{"org.opencontainers.image.version": "1"})
	reg.SignClassic(t, "signed/bot", d, d, key)
	var k strings.Builder
	for _, l := range strings.Split(strings.TrimSpace(pemKey), "\n") {
		k.WriteString("        " + l + "\n")
	}
	e, err := guardrails.LoadBundleFS(context.Background(), fstest.MapFS{
		"admission/config.yaml": {Data: []byte("scope: agents\n")},
		"admission/images.yaml": {Data: []byte("policies:\n- name: p\n  images: [\"" + reg.Host + "/signed/**\"]\n  provenance: {mode: enforce, required: [org.opencontainers.image.source]}\n  authorities:\n  - key:\n      pem: |\n" + k.String())},
	}, "test")
	if err != nil {
		t.Fatal(err)
	}
	v, err := images.NewVerifier(images.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rv := &Reviewer{Namespaces: testNamespaces, Images: v}
	obj, _ := json.Marshal(agentPod(reg.Host + "/signed/bot@" + d))
	res, err := rv.Validate(context.Background(), e, &Request{Kind: schema.GroupKind{Kind: "Pod"}, Operation: "CREATE", Namespace: "team-a", Object: obj})
	if err != nil {
		t.Fatal(err)
	}
	vs := imageViolations(res.Decision)
	if len(vs) != 1 || vs[0].ID != "AG-GEN-005" || vs[0].Mode != guardrails.ModeEnforce ||
		!strings.HasPrefix(vs[0].Message, `[AG-GEN-005] container "app": image "`) || !strings.Contains(vs[0].Message, "org.opencontainers.image.source") {
		t.Fatalf("got %+v", vs)
	}
}
