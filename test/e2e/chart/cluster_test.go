package chart

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/agentguard/agentguard/internal/certrotator"
	"github.com/agentguard/agentguard/internal/testenv"
)

// cluster is a kube-apiserver + etcd (envtest) with the chart's CRDs and
// stand-ins for the Prometheus Operator and cert-manager CRDs.
type cluster struct {
	cfg        *rest.Config
	client     kubernetes.Interface
	dyn        dynamic.Interface
	mapper     meta.ResettableRESTMapper
	kubeconfig string
}

func startCluster(t *testing.T) *cluster {
	t.Helper()
	_, cfg := testenv.Start(t, filepath.Join(chartDir(t), "crds"), filepath.Join("testdata", "crds"))
	var err error
	c := &cluster{cfg: cfg}
	if c.client, err = kubernetes.NewForConfig(cfg); err != nil {
		t.Fatal(err)
	}
	if c.dyn, err = dynamic.NewForConfig(cfg); err != nil {
		t.Fatal(err)
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.mapper = restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	c.kubeconfig = writeKubeconfig(t, cfg)
	return c
}

// writeKubeconfig gives helm the envtest admin credentials; with a
// ServiceAccount name, the admin impersonates it (and its groups), so a
// process using the file has exactly that ServiceAccount's RBAC.
func writeKubeconfig(t *testing.T, cfg *rest.Config, serviceAccount ...string) string {
	t.Helper()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken}
	if len(serviceAccount) == 1 {
		kc.AuthInfos["admin"].Impersonate = "system:serviceaccount:" + namespace + ":" + serviceAccount[0]
		kc.AuthInfos["admin"].ImpersonateGroups = []string{"system:serviceaccounts", "system:serviceaccounts:" + namespace, "system:authenticated"}
	}
	kc.Contexts["envtest"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "admin"}
	kc.CurrentContext = "envtest"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	return path
}

func (c *cluster) ensureNamespace(ctx context.Context, t *testing.T, name string, labels map[string]string) {
	t.Helper()
	_, err := c.client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("create namespace %s: %v", name, err)
	}
	// No controller-manager runs: the ServiceAccount admission plugin needs
	// the default ServiceAccount to exist.
	_, err = c.client.CoreV1().ServiceAccounts(name).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("create default ServiceAccount in %s: %v", name, err)
	}
}

// TestCluster runs against one envtest apiserver: every rendered object of
// every values file passes a server-side dry run; then a real helm install
// fails closed in agent namespaces only, and helm uninstall leaves no webhook
// configuration behind, even with the certificate rotator still running.
func TestCluster(t *testing.T) {
	c := startCluster(t)
	ctx := context.Background()
	c.ensureNamespace(ctx, t, namespace, nil)

	t.Run("server-side dry run", func(t *testing.T) {
		for name, file := range valuesFiles(t) {
			t.Run(name, func(t *testing.T) {
				objs := objects(t, render(t, file))
				for _, o := range objs {
					if o.GetKind() == "CustomResourceDefinition" {
						continue // installed from crds/ already
					}
					gvk := o.GroupVersionKind()
					m, err := c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
					if err != nil {
						t.Errorf("%s %s: no API for %s: %v", o.GetKind(), o.GetName(), gvk, err)
						continue
					}
					var ri dynamic.ResourceInterface = c.dyn.Resource(m.Resource)
					if m.Scope.Name() == meta.RESTScopeNameNamespace {
						if o.GetNamespace() != namespace {
							t.Errorf("%s %s: namespace %q, want the release namespace", o.GetKind(), o.GetName(), o.GetNamespace())
						}
						ri = c.dyn.Resource(m.Resource).Namespace(o.GetNamespace())
					}
					if _, err := ri.Create(ctx, o, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}, FieldValidation: "Strict"}); err != nil {
						t.Errorf("%s %s: server-side dry run: %v", o.GetKind(), o.GetName(), err)
					}
				}
			})
		}
	})

	t.Run("install and uninstall", func(t *testing.T) {
		installAndUninstall(ctx, t, c)
	})

	t.Run("conformance", func(t *testing.T) {
		checkConformance(ctx, t, c)
	})
}

func installAndUninstall(ctx context.Context, t *testing.T, c *cluster) {
	defaults := filepath.Join("testdata", "values", "defaults.yaml")
	// Namespaces made before the install (the tenant label is protected
	// once the webhooks exist).
	c.ensureNamespace(ctx, t, "team-a", map[string]string{"agentguard.io/tenant": "team-a"})
	c.ensureNamespace(ctx, t, "plain", nil)
	c.ensureNamespace(ctx, t, "kube-system", nil)
	if out, stderr, err := helm(t, "install", release, chartDir(t), "--namespace", namespace, "--kubeconfig", c.kubeconfig,
		"-f", defaults, "--timeout", "2m"); err != nil {
		t.Fatalf("helm install: %v\n%s%s", err, out, stderr)
	}
	uninstalled := false
	t.Cleanup(func() {
		if !uninstalled {
			_, _, _ = helm(t, "uninstall", release, "--namespace", namespace, "--kubeconfig", c.kubeconfig)
		}
	})

	// The servers as the chart runs them: the real binary, the rendered
	// args, the generated Secrets.
	deps, err := c.client.AppsV1().Deployments(namespace).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=" + release})
	if err != nil {
		t.Fatal(err)
	}
	if len(deps.Items) != 2 {
		t.Fatalf("installed Deployments: %d, want 2", len(deps.Items))
	}
	runInstalledServers(ctx, t, c, deps.Items)
	checkLeastPrivilege(ctx, t, c)
	checkUpgradeKeepsTLS(ctx, t, c, defaults)

	// What each webhook replica does (serve --cert-rotation); the
	// certificate the binary issued is current, so this changes nothing.
	rot, err := certrotator.New(certrotator.Options{Client: c.client, Namespace: namespace, SecretName: "agentguard-webhook-tls",
		Service: "agentguard-webhook", WebhookConfigs: []string{release}, CertDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := rot.Sync(ctx); err != nil {
		t.Fatalf("certificate rotation against the installed chart (RBAC-shaped Secret, webhook names): %v", err)
	}
	vw, err := c.client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, release, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range vw.Webhooks {
		if len(w.ClientConfig.CABundle) == 0 {
			t.Errorf("validating webhook %s has no caBundle after rotation", w.Name)
		}
	}
	mw, err := c.client.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, release, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range mw.Webhooks {
		if len(w.ClientConfig.CABundle) == 0 {
			t.Errorf("mutating webhook %s has no caBundle after rotation", w.Name)
		}
	}

	// No webhook pod runs here, so the webhooks are down: agent namespaces
	// fail closed, everything else keeps working (AG-CC-008).
	pod := func(ns string, labels map[string]string) error {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{GenerateName: "probe-", Labels: labels}, Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "c", Image: "registry.corp.example/app:1"}}}}
		_, err := c.client.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return err
	}
	relabel := func(ns, key, value string) error {
		n, err := c.client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if n.Labels == nil {
			n.Labels = map[string]string{}
		}
		n.Labels[key] = value
		_, err = c.client.CoreV1().Namespaces().Update(ctx, n, metav1.UpdateOptions{DryRun: []string{metav1.DryRunAll}})
		return err
	}
	failsClosed := func(what string, err error) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), "agentguard.io") {
			t.Errorf("%s with the webhook down: err = %v, want a refusal naming an agentguard webhook", what, err)
		}
	}
	passes := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Errorf("%s with the webhook down: %v, want it admitted", what, err)
		}
	}
	failsClosed("pod in a tenant namespace", pod("team-a", nil))
	failsClosed("agent-labelled pod outside tenant namespaces", pod("plain", map[string]string{"agentguard.io/agent": "x"}))
	failsClosed("tenant label set on a namespace", relabel("plain", "agentguard.io/tenant", "team-b"))
	passes("ordinary pod in an ordinary namespace", pod("plain", nil))
	passes("pod in kube-system", pod("kube-system", map[string]string{"agentguard.io/agent": "x"}))
	passes("pod in agentguard's namespace", pod(namespace, nil))
	passes("other label change on a namespace", relabel("plain", "team", "x"))

	if out, stderr, err := helm(t, "uninstall", release, "--namespace", namespace, "--kubeconfig", c.kubeconfig, "--wait", "--timeout", "2m"); err != nil {
		t.Fatalf("helm uninstall: %v\n%s%s", err, out, stderr)
	}
	uninstalled = true

	// A webhook pod still terminating runs one more rotation pass: it must
	// not bring anything back.
	if err := rot.Sync(ctx); !apierrors.IsNotFound(err) {
		t.Errorf("rotation after uninstall: err = %v, want NotFound (its Secret is gone)", err)
	}
	assertNoWebhooks(ctx, t, c)
	passes("pod in a tenant namespace after uninstall", pod("team-a", nil))

	// Nothing else of the release is left either (CRDs stay, as Helm keeps them).
	sel := metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=" + release}
	for _, gvk := range []schema.GroupVersionKind{
		{Version: "v1", Kind: "Secret"}, {Version: "v1", Kind: "ConfigMap"}, {Version: "v1", Kind: "Service"},
		{Version: "v1", Kind: "ServiceAccount"}, {Group: "apps", Version: "v1", Kind: "Deployment"},
		{Group: "policy", Version: "v1", Kind: "PodDisruptionBudget"}, {Group: "autoscaling", Version: "v2", Kind: "HorizontalPodAutoscaler"},
		{Group: "networking.k8s.io", Version: "v1", Kind: "NetworkPolicy"}, {Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "Role"},
		{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "RoleBinding"}, {Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "ClusterRole"},
		{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "ClusterRoleBinding"},
	} {
		m, err := c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			t.Fatal(err)
		}
		l, err := c.dyn.Resource(m.Resource).List(ctx, sel)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range l.Items {
			t.Errorf("left after uninstall: %s %s/%s", gvk.Kind, o.GetNamespace(), o.GetName())
		}
	}
}

func assertNoWebhooks(ctx context.Context, t *testing.T, c *cluster) {
	t.Helper()
	vl, err := c.client.AdmissionregistrationV1().ValidatingWebhookConfigurations().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ml, err := c.client.AdmissionregistrationV1().MutatingWebhookConfigurations().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, v := range vl.Items {
		left = append(left, "validating "+v.Name)
	}
	for _, m := range ml.Items {
		left = append(left, "mutating "+m.Name)
	}
	if len(left) > 0 {
		t.Errorf("webhook configurations left after uninstall: %s", strings.Join(left, ", "))
	}
}

// checkLeastPrivilege: RBAC is enforced here, and agentguard's identities
// cannot read the namespace's Secrets (the grant signing key), create
// webhook configurations or touch other ones.
func checkLeastPrivilege(ctx context.Context, t *testing.T, c *cluster) {
	t.Helper()
	for _, sa := range []string{"agentguard-webhook", "agentguard-pdp"} {
		cfg := rest.CopyConfig(c.cfg)
		cfg.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:" + namespace + ":" + sa,
			Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + namespace, "system:authenticated"}}
		cs, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		forbidden := func(what string, err error) {
			t.Helper()
			if !apierrors.IsForbidden(err) {
				t.Errorf("%s as %s: err = %v, want Forbidden", what, sa, err)
			}
		}
		_, err = cs.CoreV1().Secrets(namespace).List(ctx, metav1.ListOptions{})
		forbidden("list secrets", err)
		_, err = cs.CoreV1().Secrets(namespace).Get(ctx, "agentguard-grant-signing-key", metav1.GetOptions{})
		forbidden("get the grant signing key (the PDP has it mounted)", err)
		_, err = cs.CoreV1().Secrets(namespace).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "x"}}, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		forbidden("create a secret", err)
		vw := &admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: release}}
		_, err = cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(ctx, vw, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		forbidden("create a webhook configuration", err)
		_, err = cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().List(ctx, metav1.ListOptions{})
		forbidden("list webhook configurations", err)
		_, err = cs.CoreV1().Pods("team-a").List(ctx, metav1.ListOptions{})
		forbidden("list pods", err)
	}
}

// checkUpgradeKeepsTLS: helm upgrade leaves what the servers wrote (the
// caBundle, the certificate Secret) and the generated grant signing key.
func checkUpgradeKeepsTLS(ctx context.Context, t *testing.T, c *cluster, values string) {
	t.Helper()
	type state struct{ validating, mutating, cert, grantKey string }
	read := func() state {
		vw, err := c.client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, release, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		mw, err := c.client.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, release, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		cert, err := c.client.CoreV1().Secrets(namespace).Get(ctx, "agentguard-webhook-tls", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		key, err := c.client.CoreV1().Secrets(namespace).Get(ctx, "agentguard-grant-signing-key", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var st state
		for _, w := range vw.Webhooks {
			st.validating += w.Name + "=" + string(w.ClientConfig.CABundle) + ";"
		}
		for _, w := range mw.Webhooks {
			st.mutating += w.Name + "=" + string(w.ClientConfig.CABundle) + ";"
		}
		st.cert = string(cert.Data["tls.crt"]) + string(cert.Data["ca.key"])
		st.grantKey = string(key.Data["grant-signing-key.pem"])
		if cert.Data["tls.crt"] == nil || st.grantKey == "" {
			t.Fatal("certificate Secret or grant signing key empty before the upgrade")
		}
		return st
	}
	before := read()
	if out, stderr, err := helm(t, "upgrade", release, chartDir(t), "--namespace", namespace, "--kubeconfig", c.kubeconfig,
		"-f", values, "--set", "webhook.timeoutSeconds=4", "--set", "logFormat=text"); err != nil {
		t.Fatalf("helm upgrade: %v\n%s%s", err, out, stderr)
	}
	after := read()
	if before != after {
		t.Errorf("helm upgrade changed the TLS material or the grant signing key:\nbefore %+v\nafter  %+v", before, after)
	}
	vw, err := c.client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, release, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := *vw.Webhooks[0].TimeoutSeconds; got != 4 {
		t.Errorf("upgrade not applied: timeoutSeconds %d", got)
	}
}
