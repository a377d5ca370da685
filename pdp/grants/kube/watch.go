package kube

import (
	"context"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/agentguard/agentguard/api/v1alpha1"
	"github.com/agentguard/agentguard/pdp/grants"
)

// Watch implements grants.Store with an informer on the namespace's
// AgentGrants: fn sees every stored request, then each change, in order, on
// one goroutine. A deleted AgentGrant arrives as revoked, and so does one
// that cannot be decoded (edited by hand into something that is not a
// request): a watcher must never keep a grant it can no longer read.
// While the apiserver is unreachable the informer retries with backoff
// (see Options.OnWatchError) and, once back, relists, so revocations made
// meanwhile still arrive. Watch returns nil when ctx ends, after fn's last
// call has returned.
func (s *Store) Watch(ctx context.Context, fn func(*grants.Request)) error {
	lw := &toolscache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			var l v1alpha1.AgentGrantList
			cctx, cancel := context.WithTimeout(ctx, s.timeout)
			defer cancel()
			err := s.client.List(cctx, &l, &client.ListOptions{Namespace: s.ns, Raw: &opts, Limit: opts.Limit, Continue: opts.Continue})
			return &l, err
		},
		WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			return s.watcher.Watch(ctx, &v1alpha1.AgentGrantList{}, &client.ListOptions{Namespace: s.ns, Raw: &opts})
		},
	}
	inf := toolscache.NewSharedIndexInformerWithOptions(lw, &v1alpha1.AgentGrant{}, toolscache.SharedIndexInformerOptions{})
	onErr := s.onWatchError
	if err := inf.SetWatchErrorHandlerWithContext(func(_ context.Context, _ *toolscache.Reflector, err error) {
		if onErr != nil {
			onErr(err)
		}
	}); err != nil {
		return err
	}
	deliver := func(obj any, deleted bool) {
		if r := watched(obj, deleted); r != nil {
			fn(r)
		}
	}
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { deliver(obj, false) },
		UpdateFunc: func(_, obj any) { deliver(obj, false) },
		DeleteFunc: func(obj any) { deliver(obj, true) },
	}); err != nil {
		return err
	}
	inf.RunWithContext(ctx)
	return nil
}

// watched is the request an informer notification carries: revoked if
// the object was deleted or cannot be decoded, nil if it is not an
// AgentGrant at all.
func watched(obj any, deleted bool) *grants.Request {
	if tomb, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj, deleted = tomb.Obj, true
	}
	o, ok := obj.(*v1alpha1.AgentGrant)
	if !ok {
		return nil
	}
	r, err := fromObject(o)
	if err != nil {
		id := o.Spec.ID
		if id == "" {
			id = o.Name
		}
		r, deleted = &grants.Request{ID: id, Version: o.ResourceVersion}, true
	}
	if deleted {
		r.Status = grants.StatusRevoked
	}
	return r
}
