package conformance

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/agentguard/agentguard/conformance/catalog"
)

// renderChart renders charts/agentguard with bin/helm into objects.
func renderChart(t *testing.T) []runtime.Object {
	t.Helper()
	root := filepath.Join(policiesDir(t), "..")
	helm := filepath.Join(root, "bin", "helm")
	if _, err := os.Stat(helm); err != nil {
		t.Skip("bin/helm is not installed; the chart test renders charts/agentguard with it")
	}
	cmd := exec.Command(helm, "template", "ag", filepath.Join(root, "charts", "agentguard"), "-n", "agentguard-system",
		"--kube-version", "1.37.0", "--set", "bundle.source=oci://registry.corp.example/bundles/default:1", "--set", "bundle.insecureSkipVerify=true")
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("helm template: %v\n%s", err, stderr.String())
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(&out, 4096)
	var objs []runtime.Object
	for {
		var raw runtime.RawExtension
		if err := dec.Decode(&raw); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if len(bytes.TrimSpace(raw.Raw)) == 0 || string(raw.Raw) == "null" {
			continue
		}
		obj, _, err := scheme.Codecs.UniversalDeserializer().Decode(raw.Raw, nil, nil)
		if err != nil {
			t.Fatalf("decode %s: %v", strings.SplitN(string(raw.Raw), "\n", 2)[0], err)
		}
		objs = append(objs, obj)
	}
	return objs
}

// The default profile recognises agentguard's own chart: its webhook
// configurations, PDBs, spread and HPA pass the inventory checks.
func TestInventoryChecksOnTheChart(t *testing.T) {
	objs := renderChart(t)
	ns := func(name string, labels map[string]string) *corev1.Namespace {
		l := map[string]string{"kubernetes.io/metadata.name": name}
		for k, v := range labels {
			l[k] = v
		}
		return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: l}}
	}
	objs = append(objs, ns("kube-system", nil), ns("agentguard-system", nil), ns("default", nil),
		ns("team-a", map[string]string{"agentguard.io/tenant": "team-a"}))
	// Running pods of the Deployments, on two nodes; an HPA status.
	for _, o := range objs {
		d, ok := o.(interface{ GetName() string })
		if !ok {
			continue
		}
		if dep, isDep := o.(*appsv1.Deployment); isDep {
			for i, node := range []string{"node-a", "node-b"} {
				objs = append(objs, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: d.GetName() + "-" + string(rune('0'+i)), Namespace: dep.Namespace,
					Labels: dep.Spec.Template.Labels}, Spec: corev1.PodSpec{NodeName: node}})
			}
		}
		if h, isHPA := o.(*autoscalingv2.HorizontalPodAutoscaler); isHPA {
			h.Status = autoscalingv2.HorizontalPodAutoscalerStatus{
				CurrentMetrics: []autoscalingv2.MetricStatus{{Type: autoscalingv2.ResourceMetricSourceType}},
				Conditions:     []autoscalingv2.HorizontalPodAutoscalerCondition{{Type: "ScalingActive", Status: corev1.ConditionTrue}},
			}
		}
	}
	s := &session{profile: DefaultProfile(), kube: fake.NewClientset(objs...)}
	for _, tc := range []struct {
		id string
		fn checkFunc
	}{
		{"AG-CC-008", checkWebhookConfiguration},
		{"AG-GEN-202", checkDisruptionBudgets},
		{"AG-GEN-203", checkReplicaSpread},
		{"AG-GEN-204", checkPDPAutoscaling},
	} {
		t.Run(tc.id, func(t *testing.T) {
			r := &record{}
			tc.fn(context.Background(), s, r)
			st, sum := outcome(&catalog.Control{ID: tc.id, Level: catalog.LevelCore}, r)
			if st != StatusPass {
				t.Errorf("%s on the chart: %s %s", tc.id, st, sum)
				for _, e := range r.evidence {
					t.Logf("[%s] %s %.300s", e.Outcome, e.Step, e.Request)
				}
			}
		})
	}
}
