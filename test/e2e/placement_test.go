package e2e

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/agentguard/agentguard/webhook/guardrails"
)

// TestTenantPlacement runs the webhook with tenant placement and a
// sandboxed RuntimeClass configured (AG-SEC-107, AG-SEC-109): pods without
// placement come back pinned to the tenant's nodes and runtime, pods aimed
// at another pool or runtime are refused.
func TestTenantPlacement(t *testing.T) {
	c := startCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	data, err := os.ReadFile(filepath.Join(bundleDir(t), "admission", "config.yaml"))
	must(t, err, "read config")
	cfg, err := guardrails.ParseConfig(data)
	must(t, err, "parse config")
	ta := cfg.Tenants["team-a"]
	ta.NodeSelector = map[string]string{"agentguard.io/pool": "team-a"}
	ta.Tolerations = []corev1.Toleration{{Key: "agentguard.io/tenant", Operator: corev1.TolerationOpEqual, Value: "team-a", Effect: corev1.TaintEffectNoSchedule}}
	ta.RuntimeClassName = "gvisor"
	cfg.Tenants["team-a"] = ta
	e, err := guardrails.New(ctx, guardrails.Options{Config: cfg, Revision: "placement"})
	must(t, err, "engine")

	wp := startWebhookWith(t, c, e)
	_, err = c.client.NodeV1().RuntimeClasses().Create(ctx, &nodev1.RuntimeClass{ObjectMeta: metav1.ObjectMeta{Name: "gvisor"}, Handler: "runsc"}, metav1.CreateOptions{})
	must(t, err, "create RuntimeClass")
	_, err = c.client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a", Labels: map[string]string{guardrails.LabelTenant: "team-a"}}}, metav1.CreateOptions{})
	must(t, err, "create namespace")
	registerWebhooks(ctx, t, c, wp)
	waitForWebhook(ctx, t, c)
	pods := c.client.CoreV1().Pods("team-a")

	got, err := pods.Create(ctx, agentPod("placed"), metav1.CreateOptions{})
	must(t, err, "create")
	if got.Spec.NodeSelector["agentguard.io/pool"] != "team-a" || len(got.Spec.Tolerations) == 0 ||
		got.Spec.RuntimeClassName == nil || *got.Spec.RuntimeClassName != "gvisor" {
		t.Errorf("stored pod not placed: nodeSelector=%v tolerations=%v runtimeClassName=%v", got.Spec.NodeSelector, got.Spec.Tolerations, got.Spec.RuntimeClassName)
	}
	checkMutated(t, &got.ObjectMeta, &got.Spec)

	_, err = pods.Create(ctx, agentPod("other-pool", func(p *corev1.Pod) {
		p.Spec.NodeSelector = map[string]string{"agentguard.io/pool": "team-b"}
	}), dryRun)
	wantDenied(t, err, "AG-SEC-107")
	_, err = pods.Create(ctx, agentPod("everywhere", func(p *corev1.Pod) {
		p.Spec.Tolerations = []corev1.Toleration{{Operator: corev1.TolerationOpExists}}
	}), dryRun)
	wantDenied(t, err, "AG-SEC-107")
	_, err = c.client.NodeV1().RuntimeClasses().Create(ctx, &nodev1.RuntimeClass{ObjectMeta: metav1.ObjectMeta{Name: "runc"}, Handler: "runc"}, metav1.CreateOptions{})
	must(t, err, "create RuntimeClass runc")
	_, err = pods.Create(ctx, agentPod("plain-runtime", func(p *corev1.Pod) { p.Spec.RuntimeClassName = ptr("runc") }), dryRun)
	wantDenied(t, err, "AG-SEC-109")
}
