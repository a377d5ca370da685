package guardrails_test

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/agentguard/agentguard/webhook/guardrails"
)

// Evaluate an agent pod that runs as root, against a config that allows
// one registry and warns about everything else it finds.
func ExampleEngine_Evaluate() {
	cfg, err := guardrails.ParseConfig([]byte(`
allowedRegistries: [registry.corp.example]
defaultMode: warn
modes:
  AG-GEN-002: enforce
`))
	if err != nil {
		panic(err)
	}
	e, err := guardrails.New(context.Background(), guardrails.Options{Config: cfg})
	if err != nil {
		panic(err)
	}
	root := int64(0)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "bot", Namespace: "team-a", Labels: map[string]string{guardrails.LabelAgent: "bot"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "app", Image: "registry.corp.example/bot:1",
			SecurityContext: &corev1.SecurityContext{RunAsUser: &root},
		}}},
	}
	d := e.Evaluate(context.Background(), &guardrails.Input{
		Operation: "CREATE", Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name,
		NamespaceLabels: map[string]string{guardrails.LabelTenant: "team-a"},
		PodMeta:         &pod.ObjectMeta, PodSpec: &pod.Spec,
	})
	fmt.Println("allowed:", d.Allowed)
	for _, v := range d.Denials() {
		fmt.Println(v.ID, v.Check)
	}
	for _, v := range d.Violations {
		if v.Mode == guardrails.ModeWarn {
			fmt.Println("warn:", v.ID, v.Check)
		}
	}
	// Output:
	// allowed: false
	// AG-GEN-002 psa.runAsNonRoot
	// AG-GEN-002 psa.runAsUser
	// warn: AG-GEN-001 psa.allowPrivilegeEscalation
	// warn: AG-GEN-001 psa.capabilities_restricted
	// warn: AG-GEN-001 psa.seccompProfile_restricted
	// warn: AG-GEN-201 resources
	// warn: AG-SEC-001 service-account
	// warn: AG-SEC-004 token
}
