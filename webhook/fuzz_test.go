package webhook

import (
	"encoding/json"
	"net/http"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/agentguard/agentguard/webhook/guardrails"
)

// FuzzReview feeds arbitrary bodies through decode -> extract -> mutate /
// evaluate. The server must answer every one with an AdmissionReview or a
// 4xx, never a 5xx or a panic, and every patch it returns must apply to the
// object it was computed for.
func FuzzReview(f *testing.F) {
	f.Add(readFixture(f, "agent-deployment.json"))
	pod := &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: "p", Labels: map[string]string{guardrails.LabelAgent: "research-bot"}},
		Spec: corev1.PodSpec{HostNetwork: true, Containers: []corev1.Container{{Name: "a", Image: "busybox",
			Env: []corev1.EnvVar{{Name: "API_TOKEN", Value: "x"}}}},
			Volumes: []corev1.Volume{{Name: "kube-api-access-x", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{}}}}},
	}
	f.Add(reviewFor(f, "", "Pod", "team-a", "CREATE", pod, nil))
	f.Add(reviewFor(f, "", "Pod", "team-a", "UPDATE", pod, pod))
	f.Add(reviewFor(f, "", "Namespace", "", "CREATE", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "n", Labels: map[string]string{guardrails.LabelTenant: "x"}}}, nil))
	f.Add([]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","kind":{"group":"batch","version":"v1","kind":"CronJob"},"operation":"CREATE","namespace":"team-a","object":{"spec":{"jobTemplate":{"spec":{"template":null}}}}}}`))
	f.Add([]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","kind":{"kind":"Pod"},"operation":"CREATE","object":{"spec":{"containers":[{}],"initContainers":[{"securityContext":{}}],"volumes":[{}]}}}}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"request":{}}`))

	s := newTestServer(f, Options{MaxBodyBytes: 1 << 20})
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, path := range []string{"/validate", "/mutate"} {
			rec := post(s.Handler(), path, body, "application/json")
			switch {
			case rec.Code == http.StatusOK:
			case rec.Code >= 400 && rec.Code < 500:
				continue
			default:
				t.Fatalf("%s: status %d: %s", path, rec.Code, rec.Body.String())
			}
			var out admissionv1.AdmissionReview
			if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || out.Response == nil {
				t.Fatalf("%s: bad response %s: %v", path, rec.Body.String(), err)
			}
			if len(out.Response.Patch) == 0 {
				continue
			}
			var in admissionv1.AdmissionReview
			if err := json.Unmarshal(body, &in); err != nil {
				t.Fatalf("patched a review that does not decode: %v", err)
			}
			var ops []PatchOp
			if err := json.Unmarshal(out.Response.Patch, &ops); err != nil {
				t.Fatal(err)
			}
			if _, err := ApplyPatch(in.Request.Object.Raw, ops); err != nil {
				t.Fatalf("patch does not apply: %v\nobject %s\npatch %s", err, in.Request.Object.Raw, out.Response.Patch)
			}
		}
	})
}
