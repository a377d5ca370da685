package registry_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cedar-policy/cedar-go"
	"github.com/cedar-policy/cedar-go/types"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/agentguard/agentguard/internal/testenv"
	"github.com/agentguard/agentguard/pdp/authn"
	"github.com/agentguard/agentguard/pdp/registry"
)

// The kube-apiserver + etcd are started once for the package, on first use,
// and stopped by TestMain; unit tests never wait for them.
var cluster testenv.Shared

func TestMain(m *testing.M) {
	code := m.Run()
	if err := cluster.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "stop envtest: %v\n", err)
	}
	os.Exit(code)
}

func startCluster(t *testing.T) kubernetes.Interface {
	t.Helper()
	client, err := kubernetes.NewForConfig(cluster.Start(t))
	if err != nil {
		t.Fatal(err)
	}
	return client
}

func defaultSchema(t *testing.T) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "policies", "pdp", "schema.cedarschema"))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// waitFor waits until cond holds, re-checking at every registry change.
func waitFor(t *testing.T, r *registry.Registry, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		ch := r.Changed()
		if cond() {
			return
		}
		select {
		case <-ch:
		case <-time.After(200 * time.Millisecond): // Problems changes without a Changed
		case <-deadline:
			t.Fatalf("timed out waiting for %s; entities %v, problems %v", what, r.Entities(), r.Problems())
		}
	}
}

func attr(e types.Entity, name string) types.Value {
	v, _ := e.Attributes.Get(types.String(name))
	return v
}

func tool(id string) types.EntityUID { return types.NewEntityUID("Tool", types.String(id)) }

func tenant(id string) types.EntityUID { return types.NewEntityUID("Tenant", types.String(id)) }

type kube struct {
	t *testing.T
	c kubernetes.Interface
}

func (k kube) namespace(name string, labels map[string]string) {
	k.t.Helper()
	if _, err := k.c.CoreV1().Namespaces().Create(k.t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}, metav1.CreateOptions{}); err != nil {
		k.t.Fatal(err)
	}
}

func (k kube) serviceAccount(ns, name string, labels, annotations map[string]string) {
	k.t.Helper()
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels, Annotations: annotations}}
	if _, err := k.c.CoreV1().ServiceAccounts(ns).Create(k.t.Context(), sa, metav1.CreateOptions{}); err != nil {
		k.t.Fatal(err)
	}
}

func (k kube) updateServiceAccount(ns, name string, mutate func(*corev1.ServiceAccount)) {
	k.t.Helper()
	sa, err := k.c.CoreV1().ServiceAccounts(ns).Get(k.t.Context(), name, metav1.GetOptions{})
	if err != nil {
		k.t.Fatal(err)
	}
	mutate(sa)
	if _, err := k.c.CoreV1().ServiceAccounts(ns).Update(k.t.Context(), sa, metav1.UpdateOptions{}); err != nil {
		k.t.Fatal(err)
	}
}

func (k kube) labelNamespace(name, key, value string) {
	k.t.Helper()
	ns, err := k.c.CoreV1().Namespaces().Get(k.t.Context(), name, metav1.GetOptions{})
	if err != nil {
		k.t.Fatal(err)
	}
	ns.Labels[key] = value
	if _, err := k.c.CoreV1().Namespaces().Update(k.t.Context(), ns, metav1.UpdateOptions{}); err != nil {
		k.t.Fatal(err)
	}
}

func TestEnvtestRegistry(t *testing.T) {
	c := startCluster(t)
	k := kube{t: t, c: c}
	agentLabel := map[string]string{registry.LabelAgent: "triage"}
	k.namespace("reg-acme", map[string]string{registry.LabelTenant: "acme"})
	k.namespace("reg-untenanted", nil)
	k.serviceAccount("reg-acme", "triage", agentLabel, map[string]string{
		registry.AnnotationAllowedTools: "github/search_issues,github/create_issue", registry.AnnotationOwner: "alice@acme.example",
	})
	k.serviceAccount("reg-acme", "plain", nil, nil)
	k.serviceAccount("reg-untenanted", "orphan", map[string]string{registry.LabelAgent: "orphan"}, nil)

	r, err := registry.New(registry.Options{Client: c, Schema: defaultSchema(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if !r.HasSynced() {
		t.Fatal("HasSynced false after Start")
	}

	triage := registry.AgentUID("reg-acme", "triage")
	// Start returns after the initial listing has been delivered.
	e, ok := r.Get(triage)
	if !ok {
		t.Fatalf("triage not registered after Start: %v", r.Entities())
	}
	if !e.Parents.Contains(tenant("acme")) || !attr(e, "tenant").Equal(tenant("acme")) ||
		!attr(e, "allowedTools").Equal(types.NewSet(tool("github/search_issues"), tool("github/create_issue"))) ||
		!attr(e, "mode").Equal(types.String("autonomous")) || attr(e, "owner") != nil {
		t.Errorf("triage = %v", e)
	}
	if _, ok := r.Get(registry.AgentUID("reg-acme", "plain")); ok {
		t.Error("unlabelled ServiceAccount registered")
	}
	if _, ok := r.Get(registry.AgentUID("reg-untenanted", "orphan")); ok || r.Problems()["reg-untenanted/orphan"] == "" {
		t.Errorf("agent without tenant: problems %v", r.Problems())
	}

	t.Run("annotation update", func(t *testing.T) {
		k.updateServiceAccount("reg-acme", "triage", func(sa *corev1.ServiceAccount) {
			sa.Annotations[registry.AnnotationAllowedTools] = "github/search_issues"
			sa.Annotations[registry.KeyMode] = "user-delegated"
		})
		waitFor(t, r, "allowedTools update", func() bool {
			e, _ := r.Get(triage)
			return attr(e, "allowedTools").Equal(types.NewSet(tool("github/search_issues"))) && attr(e, "mode").Equal(types.String("user-delegated"))
		})
	})
	t.Run("namespace gets a tenant", func(t *testing.T) {
		k.labelNamespace("reg-untenanted", registry.LabelTenant, "globex")
		waitFor(t, r, "orphan registered", func() bool {
			e, ok := r.Get(registry.AgentUID("reg-untenanted", "orphan"))
			return ok && e.Parents.Contains(tenant("globex")) && r.Problems()["reg-untenanted/orphan"] == ""
		})
	})
	t.Run("tenant relabelled", func(t *testing.T) {
		k.labelNamespace("reg-acme", registry.LabelTenant, "acme-eu")
		waitFor(t, r, "tenant change", func() bool {
			e, _ := r.Get(triage)
			return e.Parents.Contains(tenant("acme-eu")) && !e.Parents.Contains(tenant("acme")) && attr(e, "tenant").Equal(tenant("acme-eu"))
		})
	})
	t.Run("new agent", func(t *testing.T) {
		k.serviceAccount("reg-acme", "reviewer", map[string]string{registry.LabelAgent: "reviewer"}, nil)
		waitFor(t, r, "reviewer registered", func() bool { _, ok := r.Get(registry.AgentUID("reg-acme", "reviewer")); return ok })
	})
	t.Run("label added", func(t *testing.T) {
		k.updateServiceAccount("reg-acme", "plain", func(sa *corev1.ServiceAccount) {
			sa.Labels = map[string]string{registry.LabelAgent: "plain"}
		})
		waitFor(t, r, "plain registered", func() bool { _, ok := r.Get(registry.AgentUID("reg-acme", "plain")); return ok })
	})
	t.Run("label removed", func(t *testing.T) {
		k.updateServiceAccount("reg-acme", "plain", func(sa *corev1.ServiceAccount) { delete(sa.Labels, registry.LabelAgent) })
		waitFor(t, r, "plain unregistered", func() bool { _, ok := r.Get(registry.AgentUID("reg-acme", "plain")); return !ok })
	})
	t.Run("deleted", func(t *testing.T) {
		if err := c.CoreV1().ServiceAccounts("reg-acme").Delete(t.Context(), "reviewer", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, r, "reviewer unregistered", func() bool { _, ok := r.Get(registry.AgentUID("reg-acme", "reviewer")); return !ok })
	})

	t.Run("one namespace", func(t *testing.T) {
		only, err := registry.New(registry.Options{Client: c, Namespace: "reg-untenanted"})
		if err != nil {
			t.Fatal(err)
		}
		if err := only.Start(ctx); err != nil {
			t.Fatal(err)
		}
		waitFor(t, only, "orphan registered", func() bool { _, ok := only.Get(registry.AgentUID("reg-untenanted", "orphan")); return ok })
		if only.Len() != 1 {
			t.Errorf("namespace-scoped registry holds %v", only.Entities())
		}
		// Without a schema every attribute is kept, labels as tags.
		e, _ := only.Get(registry.AgentUID("reg-untenanted", "orphan"))
		if !attr(e, "namespace").Equal(types.String("reg-untenanted")) || e.Tags.Len() != 1 {
			t.Errorf("orphan = %v", e)
		}
	})
}

// TestEnvtestAuthenticatedAgent joins the two halves: the caller proved by
// its ServiceAccount token is the registry's Agent entity, and Cedar decides
// with the attributes the cluster holds.
func TestEnvtestAuthenticatedAgent(t *testing.T) {
	c := startCluster(t)
	k := kube{t: t, c: c}
	k.namespace("join-acme", map[string]string{registry.LabelTenant: "acme"})
	k.serviceAccount("join-acme", "triage", map[string]string{registry.LabelAgent: "triage"},
		map[string]string{registry.AnnotationAllowedTools: "github/search_issues"})
	r, err := registry.New(registry.Options{Client: c, Namespace: "join-acme", Schema: defaultSchema(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	// The token is minted without a pod here, for brevity; pod binding is
	// pdp/authn's business.
	a, err := authn.NewTokenReview(authn.TokenReviewOptions{
		Client: c.AuthenticationV1().TokenReviews(), Audience: "agentguard-pdp", AllowUnboundTokens: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	exp := int64(600)
	tr, err := c.CoreV1().ServiceAccounts("join-acme").CreateToken(t.Context(), "triage", &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{Audiences: []string{"agentguard-pdp"}, ExpirationSeconds: &exp},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodPost, "/access/v1/evaluation", nil)
	req.Header.Set("Authorization", "Bearer "+tr.Status.Token)
	id, err := a.Authenticate(req)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := r.Get(id.Principal); !ok {
		t.Fatalf("authenticated principal %s is not in the registry: %v", id.Principal, r.Entities())
	}
	ps, err := cedar.NewPolicySetFromBytes("tools.cedar", []byte(`
permit (principal in Tenant::"acme", action == Action::"call_tool", resource)
when { principal.allowedTools.contains(resource) };`))
	if err != nil {
		t.Fatal(err)
	}
	for tool, want := range map[string]types.Decision{"github/search_issues": types.Allow, "payments/refund": types.Deny} {
		got, _ := cedar.Authorize(ps, r, cedar.Request{
			Principal: id.Principal, Action: types.NewEntityUID("Action", "call_tool"), Resource: types.NewEntityUID("Tool", types.String(tool)),
			Context: types.NewRecord(nil),
		})
		if got != want {
			t.Errorf("%s calling %s: %v, want %v", id.Principal, tool, got, want)
		}
	}
}

func TestEnvtestStartCanceled(t *testing.T) {
	c := startCluster(t)
	r, err := registry.New(registry.Options{Client: c})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := r.Start(ctx); err == nil && !r.HasSynced() {
		t.Error("Start with a canceled context returned nil before syncing")
	}
}
