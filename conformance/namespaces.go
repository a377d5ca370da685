package conformance

import (
	"context"
	"fmt"
	"maps"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// suiteNamespaces are the namespaces the admission probes run in.
type suiteNamespaces struct {
	// tenant carries the probe agent's tenant, other the other tenant;
	// plain has no tenant label.
	tenant, other, plain string
}

// RunLabel carries the run's nonce on everything the suite creates.
const RunLabel = "agentguard.io/conformance-run"

// namespaces creates the suite's namespaces (once per run) with the
// probe agent's ServiceAccount in the tenant namespaces.
func (s *session) namespaces(ctx context.Context) (*suiteNamespaces, error) {
	s.nsOnce.Do(func() {
		p := s.profile
		base := fmt.Sprintf("%s-%s", p.NamespacePrefix, s.nonce)
		ns := &suiteNamespaces{tenant: base + "-a", other: base + "-b", plain: base + "-p"}
		s.ns = ns
		for _, n := range []struct{ name, tenant string }{{ns.tenant, p.Admission.Tenant}, {ns.other, p.Admission.OtherTenant}, {ns.plain, ""}} {
			labels := maps.Clone(p.SuiteLabels)
			labels[RunLabel] = s.nonce
			if n.tenant != "" {
				labels[p.TenantLabel] = n.tenant
			}
			obj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: n.name, Labels: labels}}
			if _, err := s.kube.CoreV1().Namespaces().Create(ctx, obj, metav1.CreateOptions{}); err != nil {
				s.nsErr = fmt.Errorf("create suite namespace %s (the suite's user must be allowed to create namespaces and set the %s label): %w", n.name, p.TenantLabel, err)
				return
			}
			if n.tenant == "" {
				continue
			}
			// "default" too: the controller that creates it may lag, and
			// the ServiceAccount admission plugin refuses pods whose
			// account does not exist yet, before any webhook runs.
			for _, sa := range []string{"default", p.Admission.ServiceAccount, p.Admission.OtherAgentServiceAccount} {
				if sa == "" {
					continue
				}
				obj := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa, Labels: map[string]string{RunLabel: s.nonce}}}
				if _, err := s.kube.CoreV1().ServiceAccounts(n.name).Create(ctx, obj, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
					s.nsErr = fmt.Errorf("create ServiceAccount %s/%s: %w", n.name, sa, err)
					return
				}
			}
		}
	})
	return s.ns, s.nsErr
}

// cleanup deletes what the suite created. It runs even when the run's
// context is cancelled, and is safe to call twice.
func (s *session) cleanup() {
	if s.kube == nil || s.ns == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, n := range []string{s.ns.tenant, s.ns.other, s.ns.plain} {
		err := s.kube.CoreV1().Namespaces().Delete(ctx, n, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			s.cleanupErrs = append(s.cleanupErrs, fmt.Errorf("delete suite namespace %s: %w", n, err))
		}
	}
	s.ns = nil
}
