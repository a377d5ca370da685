package conformance

import (
	"context"
	"fmt"
	"slices"
	"strings"

	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// forbiddenAccess is what no agent ServiceAccount may do (AG-SEC-003).
var forbiddenAccess = []struct {
	what string
	attr authorizationv1.ResourceAttributes
	// cluster asks at cluster scope only.
	cluster bool
}{
	{"wildcard verbs and resources", authorizationv1.ResourceAttributes{Verb: "*", Group: "*", Resource: "*"}, false},
	{"list secrets", authorizationv1.ResourceAttributes{Verb: "list", Resource: "secrets"}, false},
	{"get secrets", authorizationv1.ResourceAttributes{Verb: "get", Resource: "secrets"}, false},
	{"exec into pods", authorizationv1.ResourceAttributes{Verb: "create", Resource: "pods", Subresource: "exec"}, false},
	{"create pods", authorizationv1.ResourceAttributes{Verb: "create", Resource: "pods"}, false},
	{"create RoleBindings", authorizationv1.ResourceAttributes{Verb: "create", Group: "rbac.authorization.k8s.io", Resource: "rolebindings"}, false},
	{"escalate Roles", authorizationv1.ResourceAttributes{Verb: "escalate", Group: "rbac.authorization.k8s.io", Resource: "roles"}, false},
	{"bind ClusterRoles", authorizationv1.ResourceAttributes{Verb: "bind", Group: "rbac.authorization.k8s.io", Resource: "clusterroles"}, true},
	{"impersonate users", authorizationv1.ResourceAttributes{Verb: "impersonate", Resource: "users"}, true},
	{"write webhook configurations", authorizationv1.ResourceAttributes{Verb: "create", Group: "admissionregistration.k8s.io", Resource: "validatingwebhookconfigurations"}, true},
	{"write CRDs", authorizationv1.ResourceAttributes{Verb: "create", Group: "apiextensions.k8s.io", Resource: "customresourcedefinitions"}, true},
}

// agentServiceAccounts returns namespace/name of the ServiceAccounts of
// running agent pods and of the profile's list.
func (s *session) agentServiceAccounts(ctx context.Context) ([]string, error) {
	pods, err := s.agentPods(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, p := range pods {
		sa := p.Spec.ServiceAccountName
		if sa == "" {
			sa = "default"
		}
		out = append(out, p.Namespace+"/"+sa)
	}
	out = append(out, s.profile.Inventory.AgentServiceAccounts...)
	slices.Sort(out)
	return slices.Compact(out), nil
}

func checkAgentRBAC(ctx context.Context, s *session, r *record) {
	if !s.needKube(r) {
		return
	}
	sas, err := s.agentServiceAccounts(ctx)
	if err != nil {
		r.errorf("list agent pods: %v", err)
		return
	}
	if len(sas) == 0 {
		r.manual("no agent ServiceAccounts found (no running pods labelled %s; list more in inventory.agentServiceAccounts)", s.profile.AgentLabel)
		return
	}
	crbs, err := s.kube.RbacV1().ClusterRoleBindings().List(ctx, metav1.ListOptions{})
	if err != nil {
		r.errorf("list ClusterRoleBindings: %v", err)
		return
	}
	for _, key := range sas {
		ns, name, ok := strings.Cut(key, "/")
		if !ok || ns == "" || name == "" {
			r.errorf("inventory.agentServiceAccounts: %q is not namespace/name", key)
			return
		}
		user := "system:serviceaccount:" + ns + ":" + name
		groups := []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"}
		for _, fa := range forbiddenAccess {
			scopes := []string{ns, ""}
			if fa.cluster {
				scopes = []string{""}
			}
			for _, scope := range scopes {
				attr := fa.attr
				attr.Namespace = scope
				sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{User: user, Groups: groups, ResourceAttributes: &attr}}
				out, err := s.kube.AuthorizationV1().SubjectAccessReviews().Create(ctx, sar, metav1.CreateOptions{})
				if err != nil {
					r.errorf("SubjectAccessReview for %s: %v", user, err)
					return
				}
				where := "cluster-wide"
				if scope != "" {
					where = "in namespace " + scope
				}
				req := "SubjectAccessReview " + toJSON(sar.Spec)
				resp := fmt.Sprintf("allowed=%v reason=%q", out.Status.Allowed, out.Status.Reason)
				if out.Status.Allowed {
					r.finding(fmt.Sprintf("%s may %s %s", user, fa.what, where), req, resp)
				} else {
					r.ok(fmt.Sprintf("%s may not %s %s", user, fa.what, where), req, resp)
				}
			}
		}
		for _, b := range crbs.Items {
			for _, sub := range b.Subjects {
				if sub.Kind == "ServiceAccount" && sub.Namespace == ns && sub.Name == name {
					r.finding("ClusterRoleBinding "+b.Name+" names agent ServiceAccount "+key, toJSON(b.RoleRef), "")
				}
			}
		}
	}
	r.skip("dry-run RoleBinding granting edit or cluster-admin to an agent ServiceAccount (the webhook does not evaluate RBAC objects)")
}
