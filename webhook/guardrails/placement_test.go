package guardrails

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func TestPlacementAndRuntimeClass(t *testing.T) {
	tol := corev1.Toleration{Key: "tenant", Operator: corev1.TolerationOpEqual, Value: "team-a", Effect: corev1.TaintEffectNoSchedule}
	e := testEngine(t, func(c *Config) {
		ta := c.Tenants["team-a"]
		ta.NodeSelector = map[string]string{"pool": "team-a"}
		ta.Tolerations = []corev1.Toleration{tol}
		ta.ExtendedResources = []corev1.ResourceName{"nvidia.com/mig-1g.5gb"}
		ta.RuntimeClassName = "gvisor"
		c.Tenants["team-a"] = ta
	})
	placed := func(p *corev1.Pod) {
		p.Spec.NodeSelector = map[string]string{"pool": "team-a"}
		p.Spec.Tolerations = []corev1.Toleration{tol}
		p.Spec.RuntimeClassName = ptrTo("gvisor")
	}
	tests := []struct {
		name string
		mod  func(*corev1.Pod)
		want []string
	}{
		{"placed", func(*corev1.Pod) {}, nil},
		{"no placement", func(p *corev1.Pod) { p.Spec.NodeSelector, p.Spec.Tolerations, p.Spec.RuntimeClassName = nil, nil, nil },
			[]string{"AG-SEC-107 placement", "AG-SEC-109 runtime-class"}},
		{"other pool", func(p *corev1.Pod) { p.Spec.NodeSelector["pool"] = "team-b" }, []string{"AG-SEC-107 placement"}},
		{"affinity to another pool", func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "pool", Operator: corev1.NodeSelectorOpIn, Values: []string{"team-b"}}}}}}}}
		}, []string{"AG-SEC-107 placement"}},
		{"tolerates everything", func(p *corev1.Pod) {
			p.Spec.Tolerations = append(p.Spec.Tolerations, corev1.Toleration{Operator: corev1.TolerationOpExists})
		}, []string{"AG-SEC-107 placement"}},
		{"tolerates another tenant", func(p *corev1.Pod) {
			p.Spec.Tolerations = append(p.Spec.Tolerations, corev1.Toleration{Key: "tenant", Value: "team-b", Effect: corev1.TaintEffectNoSchedule})
		}, []string{"AG-SEC-107 placement"}},
		{"whole GPU where only MIG slices are allowed", func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Limits["nvidia.com/gpu"] = resource.MustParse("1")
		}, []string{"AG-SEC-107 placement"}},
		{"MIG slice", func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Limits["nvidia.com/mig-1g.5gb"] = resource.MustParse("1")
		}, nil},
		{"other runtime", func(p *corev1.Pod) { p.Spec.RuntimeClassName = ptrTo("runc") }, []string{"AG-SEC-109 runtime-class"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := goodPod()
			placed(p)
			tt.mod(p)
			d := e.Evaluate(context.Background(), podInput(p, tenantA))
			if diff := cmp.Diff(tt.want, ids(d)); diff != "" {
				t.Errorf("violations (-want +got):\n%s\n%v", diff, d.Violations)
			}
		})
	}
}

func ptrTo[T any](v T) *T { return &v }
