package conformance

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// scanRootContainers reports running agent containers whose pod spec lets
// them run as root (AG-GEN-002). The image config is not read.
func (s *session) scanRootContainers(ctx context.Context, r *record) {
	pods, err := s.agentPods(ctx)
	if err != nil {
		r.errorf("list agent pods: %v", err)
		return
	}
	for _, p := range pods {
		psc := p.Spec.SecurityContext
		for _, c := range allContainers(&p.Spec) {
			var uid *int64
			var nonRoot *bool
			if psc != nil {
				uid, nonRoot = psc.RunAsUser, psc.RunAsNonRoot
			}
			if c.SecurityContext != nil && c.SecurityContext.RunAsUser != nil {
				uid = c.SecurityContext.RunAsUser
			}
			if c.SecurityContext != nil && c.SecurityContext.RunAsNonRoot != nil {
				nonRoot = c.SecurityContext.RunAsNonRoot
			}
			where := fmt.Sprintf("running pod %s/%s container %s", p.Namespace, p.Name, c.Name)
			obj := toJSON(map[string]any{"runAsUser": uid, "runAsNonRoot": nonRoot})
			switch {
			case uid != nil && *uid == 0:
				r.finding(where+" runs as UID 0", obj, "")
			case (nonRoot != nil && *nonRoot) || uid != nil:
				r.ok(where+" cannot run as root", obj, "")
			default:
				r.finding(where+" may run as root (neither runAsNonRoot nor a non-zero runAsUser)", obj, "")
			}
		}
	}
}

// scanSharedServiceAccounts reports ServiceAccounts used by more than one
// agent ID (AG-SEC-001).
func (s *session) scanSharedServiceAccounts(ctx context.Context, r *record) {
	pods, err := s.agentPods(ctx)
	if err != nil {
		r.errorf("list agent pods: %v", err)
		return
	}
	agents := map[string]map[string]bool{}
	for _, p := range pods {
		sa := p.Spec.ServiceAccountName
		if sa == "" {
			sa = "default"
		}
		key := p.Namespace + "/" + sa
		if agents[key] == nil {
			agents[key] = map[string]bool{}
		}
		agents[key][p.Labels[s.profile.AgentLabel]] = true
	}
	for _, key := range slices.Sorted(maps.Keys(agents)) {
		ids := slices.Sorted(maps.Keys(agents[key]))
		if len(ids) > 1 {
			r.finding("ServiceAccount "+key+" is shared by agents "+strings.Join(ids, ", "), "", "")
		} else {
			r.ok("ServiceAccount "+key+" is used by agent "+ids[0]+" only", "", "")
		}
	}
}

// probeTenantLabelChange tries, as an ordinary user with the right to
// update the suite's tenant namespace, to remove its tenant label (dry
// run). The webhook must refuse with [AG-SEC-105]; RBAC refusing instead
// proves nothing, and the probe is then skipped.
func (s *session) probeTenantLabelChange(ctx context.Context, r *record) {
	ns, err := s.namespaces(ctx)
	if err != nil {
		r.errorf("%v", err)
		return
	}
	user := "agconf-developer-" + s.nonce
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "agconf-namespace-editor", Labels: map[string]string{RunLabel: s.nonce}},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: []string{"get", "update", "patch"}, ResourceNames: []string{ns.tenant}}}}
	binding := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "agconf-namespace-editor", Labels: map[string]string{RunLabel: s.nonce}},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}}}
	if _, err := s.kube.RbacV1().Roles(ns.tenant).Create(ctx, role, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		r.info("tenant label change as a non-admin skipped: the suite cannot create a Role in its namespace", "", err.Error())
		r.skip("Namespace update changing the tenant label as a non-admin")
		return
	}
	if _, err := s.kube.RbacV1().RoleBindings(ns.tenant).Create(ctx, binding, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		r.info("tenant label change as a non-admin skipped: the suite cannot create a RoleBinding in its namespace", "", err.Error())
		r.skip("Namespace update changing the tenant label as a non-admin")
		return
	}
	cfg := rest.CopyConfig(s.opts.Kube)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: []string{"system:authenticated"}}
	as, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		r.errorf("impersonating client: %v", err)
		return
	}
	step := "as non-admin " + user + ", remove the tenant label of namespace " + ns.tenant
	var last error
	// RBAC caches may take a moment to see the new binding.
	for range 20 {
		obj, err := as.CoreV1().Namespaces().Get(ctx, ns.tenant, metav1.GetOptions{})
		if err == nil {
			delete(obj.Labels, s.profile.TenantLabel)
			req := "PUT /api/v1/namespaces/" + ns.tenant + "?dryRun=All (impersonating " + user + ")\nlabels: " + toJSON(obj.Labels)
			_, err = as.CoreV1().Namespaces().Update(ctx, obj, metav1.UpdateOptions{DryRun: []string{metav1.DryRunAll}})
			switch {
			case err == nil:
				r.finding(step+": admitted", req, "admitted (dry run)")
				return
			case strings.Contains(err.Error(), "[AG-SEC-105]"):
				r.ok(step+": refused with [AG-SEC-105]", req, err.Error())
				return
			case !apierrors.IsForbidden(err) || strings.Contains(err.Error(), "admission webhook"):
				r.finding(step+": refused, but not with [AG-SEC-105]", req, err.Error())
				return
			}
		}
		last = err
		if !sleepCtx(ctx, 250) {
			break
		}
	}
	r.info(step+": skipped, RBAC or impersonation refused the request before admission", "", fmt.Sprint(last))
	r.skip("Namespace update changing the tenant label as a non-admin (impersonation or RBAC refused)")
}
