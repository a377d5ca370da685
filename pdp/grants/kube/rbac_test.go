package kube

import (
	"context"
	"errors"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/agentguard/agentguard/api/v1alpha1"
	"github.com/agentguard/agentguard/pdp/grants"
	"github.com/agentguard/agentguard/pdp/grants/storetest"
)

// documentedVerbs reads the verbs of the +kubebuilder:rbac marker in
// doc.go, so the test checks the RBAC the package documents.
func documentedVerbs(t *testing.T) []string {
	t.Helper()
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`\+kubebuilder:rbac:groups=agentguard\.io,resources=agentgrants,verbs=([a-z;]+)`).FindSubmatch(doc)
	if m == nil {
		t.Fatal("doc.go has no +kubebuilder:rbac marker for agentgrants")
	}
	return strings.Split(string(m[1]), ";")
}

// pdpUser is a user the apiserver authenticates but grants nothing beyond
// what tests bind to it.
func pdpUser(t *testing.T) *rest.Config {
	t.Helper()
	cluster(t)
	u, err := shared.Env().AddUser(envtest.User{Name: "system:serviceaccount:agentguard-system:agentguard-pdp"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := u.Config()
	// client-go's default 5 requests/s would make the contract's eight
	// contending writers take seconds.
	cfg.QPS, cfg.Burst = 100, 200
	return cfg
}

// grantNamespace makes a namespace in which the PDP user holds exactly
// the documented verbs on agentgrants, and waits for RBAC to allow them.
func grantNamespace(t *testing.T, admin, user *rest.Config, verbs []string) string {
	t.Helper()
	ns := namespace(t, admin)
	cs, err := kubernetes.NewForConfig(admin)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	role := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "agentguard-grants", Namespace: ns},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{v1alpha1.GroupVersion.Group}, Resources: []string{"agentgrants"}, Verbs: verbs}},
	}
	if _, err := cs.RbacV1().Roles(ns).Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "agentguard-grants", Namespace: ns},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "system:serviceaccount:agentguard-system:agentguard-pdp"}},
	}
	if _, err := cs.RbacV1().RoleBindings(ns).Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	probe := newStore(t, user, ns)
	deadline := time.Now().Add(20 * time.Second)
	for _, err := probe.List(ctx, grants.Filter{}); err != nil; _, err = probe.List(ctx, grants.Filter{}) {
		if time.Now().After(deadline) {
			t.Fatalf("RBAC never allowed the PDP user to list: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return ns
}

// The documented verbs are enough for the whole contract, and confine the
// PDP to its namespace.
func TestDocumentedRBACSuffices(t *testing.T) {
	admin := cluster(t)
	user := pdpUser(t)
	verbs := documentedVerbs(t)
	for _, v := range verbs {
		if v == "delete" || v == "deletecollection" || v == "*" {
			t.Errorf("documented RBAC includes %q; the store never deletes", v)
		}
	}
	storetest.Run(t, func(t *testing.T) grants.Store {
		return newStore(t, user, grantNamespace(t, admin, user, verbs))
	})

	elsewhere := newStore(t, user, namespace(t, admin))
	err := elsewhere.Create(context.Background(), storetest.NewRequest("arq-x", "ns/sa", time.Now()))
	if !errors.Is(err, grants.ErrUnavailable) {
		t.Errorf("create outside the granted namespace: %v, want a refusal (ErrUnavailable)", err)
	}
}
