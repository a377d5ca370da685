package registry

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
)

// watcher watches labelled ServiceAccounts and their namespaces. Every
// event re-reads the current state from the listers, so the order in which
// events arrive does not matter.
type watcher struct {
	r          *Registry
	saFactory  informers.SharedInformerFactory
	nsFactory  informers.SharedInformerFactory
	sas        corelisters.ServiceAccountLister
	namespaces corelisters.NamespaceLister
	synced     []cache.InformerSynced
	errs       []error
}

func newWatcher(r *Registry, opts Options) *watcher {
	saOpts := []informers.SharedInformerOption{
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = LabelAgent }),
	}
	var nsOpts []informers.SharedInformerOption
	if opts.Namespace != "" {
		saOpts = append(saOpts, informers.WithNamespace(opts.Namespace))
		nsOpts = append(nsOpts, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", opts.Namespace).String()
		}))
	}
	in := &watcher{
		r:         r,
		saFactory: informers.NewSharedInformerFactoryWithOptions(opts.Client, opts.ResyncPeriod, saOpts...),
		nsFactory: informers.NewSharedInformerFactoryWithOptions(opts.Client, opts.ResyncPeriod, nsOpts...),
	}
	saInf := in.saFactory.Core().V1().ServiceAccounts()
	nsInf := in.nsFactory.Core().V1().Namespaces()
	in.sas, in.namespaces = saInf.Lister(), nsInf.Lister()

	onSA := func(obj any) {
		key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
		if err != nil {
			return
		}
		ns, name, err := cache.SplitMetaNamespaceKey(key)
		if err != nil {
			return
		}
		in.syncServiceAccount(ns, name)
	}
	onNS := func(obj any) {
		key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
		if err != nil {
			return
		}
		in.syncNamespace(key)
	}
	saReg, err := saInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: onSA, UpdateFunc: func(_, obj any) { onSA(obj) }, DeleteFunc: onSA,
	})
	in.register(saReg, err)
	nsReg, err := nsInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: onNS, UpdateFunc: func(_, obj any) { onNS(obj) }, DeleteFunc: onNS,
	})
	in.register(nsReg, err)
	return in
}

func (in *watcher) register(reg cache.ResourceEventHandlerRegistration, err error) {
	if err != nil {
		in.errs = append(in.errs, err)
		return
	}
	in.synced = append(in.synced, reg.HasSynced)
}

func (in *watcher) start(ctx context.Context) error {
	if err := errors.Join(in.errs...); err != nil {
		return fmt.Errorf("agent registry: %w", err)
	}
	in.saFactory.Start(ctx.Done())
	in.nsFactory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), in.synced...) {
		return fmt.Errorf("agent registry: initial listing did not complete: %w", context.Cause(ctx))
	}
	return nil
}

func (in *watcher) hasSynced() bool {
	if len(in.errs) > 0 {
		return false
	}
	for _, s := range in.synced {
		if !s() {
			return false
		}
	}
	return true
}

// syncServiceAccount re-reads one ServiceAccount and its namespace.
func (in *watcher) syncServiceAccount(namespace, name string) {
	sa, err := in.sas.ServiceAccounts(namespace).Get(name)
	if err != nil || !isAgent(sa) {
		// Not found: deleted, or no longer labelled.
		in.r.update(namespace, name, nil, nil)
		return
	}
	in.r.update(namespace, name, sa, in.namespace(namespace))
}

// syncNamespace re-reads every labelled ServiceAccount of a namespace (its
// tenant label may have changed).
func (in *watcher) syncNamespace(namespace string) {
	sas, err := in.sas.ServiceAccounts(namespace).List(labels.Everything())
	if err != nil {
		return
	}
	ns := in.namespace(namespace)
	for _, sa := range sas {
		if isAgent(sa) {
			in.r.update(namespace, sa.Name, sa, ns)
		}
	}
}

func (in *watcher) namespace(name string) *corev1.Namespace {
	ns, err := in.namespaces.Get(name)
	if err != nil {
		// Not seen yet: its add event will sync its ServiceAccounts.
		return nil
	}
	return ns
}

func isAgent(sa *corev1.ServiceAccount) bool {
	_, ok := sa.Labels[LabelAgent]
	return ok
}
