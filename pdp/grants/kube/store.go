package kube

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	"github.com/agentguard/agentguard/api/v1alpha1"
	"github.com/agentguard/agentguard/pdp/grants"
)

// Options configure a Store.
type Options struct {
	// Config connects to the apiserver; required. Its QPS and Burst bound
	// the store's request rate (client-go's defaults are 5 and 10). The
	// apiserver's warnings go to its WarningHandlerWithContext, or nowhere
	// if it has none.
	Config *rest.Config
	// Namespace holds the AgentGrant objects: the PDP's own namespace;
	// required.
	Namespace string
	// RequestTimeout bounds each call to the apiserver; a call that
	// exceeds it fails with grants.ErrUnavailable. Default 10s.
	RequestTimeout time.Duration
	// OnWatchError, if set, is told each time Watch loses its connection to
	// the apiserver or fails to list; Watch retries with backoff either
	// way. Default: the error is dropped (this package does not log).
	OnWatchError func(error)
}

func (o *Options) setDefaults() {
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = 10 * time.Second
	}
}

// listPageSize bounds one List response.
const listPageSize = 500

// Store keeps access requests as AgentGrant objects in one namespace. It
// is safe for concurrent use. Request ids are at most 253 characters.
// Failures the caller cannot fix by changing its request (apiserver
// unreachable or timed out, access forbidden, CRD not installed) wrap
// grants.ErrUnavailable; an object the CRD refuses is a plain error.
type Store struct {
	client       client.Client    // every call but watches; bounded by timeout
	watcher      client.WithWatch // long-running watches; not bounded
	ns           string
	timeout      time.Duration
	onWatchError func(error)
}

var _ grants.Store = (*Store)(nil)

// New returns a Store for the cluster opts.Config reaches. It does not
// contact the apiserver; the first call does.
func New(opts Options) (*Store, error) {
	opts.setDefaults()
	if opts.Config == nil {
		return nil, errors.New("grant store: no apiserver config")
	}
	if opts.Namespace == "" {
		return nil, errors.New("grant store: no namespace")
	}
	if errs := validation.IsDNS1123Label(opts.Namespace); len(errs) > 0 {
		return nil, fmt.Errorf("grant store: namespace %q: %s", opts.Namespace, strings.Join(errs, "; "))
	}
	scheme := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		return nil, fmt.Errorf("grant store: %w", err)
	}
	// One config with a timeout for request/response calls and one without
	// for watches, which stay open for minutes.
	base := rest.CopyConfig(opts.Config)
	if base.WarningHandler == nil && base.WarningHandlerWithContext == nil {
		base.WarningHandlerWithContext = rest.NoWarnings{}
	}
	bounded := rest.CopyConfig(base)
	bounded.Timeout = opts.RequestTimeout
	boundedHTTP, err := rest.HTTPClientFor(bounded)
	if err != nil {
		return nil, fmt.Errorf("grant store: %w", err)
	}
	mapper, err := apiutil.NewDynamicRESTMapper(bounded, boundedHTTP)
	if err != nil {
		return nil, fmt.Errorf("grant store: %w", err)
	}
	c, err := client.New(bounded, client.Options{HTTPClient: boundedHTTP, Scheme: scheme, Mapper: mapper, Log: logr.Discard()})
	if err != nil {
		return nil, fmt.Errorf("grant store: %w", err)
	}
	open := rest.CopyConfig(base)
	open.Timeout = 0
	openHTTP, err := rest.HTTPClientFor(open)
	if err != nil {
		return nil, fmt.Errorf("grant store: %w", err)
	}
	w, err := client.NewWithWatch(open, client.Options{HTTPClient: openHTTP, Scheme: scheme, Mapper: mapper, Log: logr.Discard()})
	if err != nil {
		return nil, fmt.Errorf("grant store: %w", err)
	}
	return &Store{client: c, watcher: w, ns: opts.Namespace, timeout: opts.RequestTimeout, onWatchError: opts.OnWatchError}, nil
}

// Create implements grants.Store.
func (s *Store) Create(ctx context.Context, r *grants.Request) error {
	if r.ID == "" {
		return errors.New("access request has no id")
	}
	o := toObject(r, s.ns)
	o.ResourceVersion = ""
	cctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if err := s.client.Create(cctx, o); err != nil {
		if apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("%w: %s", grants.ErrExists, r.ID)
		}
		return s.fail(ctx, "create access request "+r.ID, err)
	}
	r.Version = o.ResourceVersion
	return nil
}

// Get implements grants.Store.
func (s *Store) Get(ctx context.Context, id string) (*grants.Request, error) {
	o, err := s.get(ctx, id)
	if err != nil {
		return nil, err
	}
	return fromObject(o)
}

func (s *Store) get(ctx context.Context, id string) (*v1alpha1.AgentGrant, error) {
	name := objectName(id)
	cctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var o v1alpha1.AgentGrant
	if err := s.client.Get(cctx, client.ObjectKey{Namespace: s.ns, Name: name}, &o); err != nil {
		if isObjectNotFound(err) {
			return nil, fmt.Errorf("%w: %s", grants.ErrNotFound, id)
		}
		return nil, s.fail(ctx, "get access request "+id, err)
	}
	if o.Spec.ID != id {
		// Only a digest collision or a hand-made object gets here.
		return nil, fmt.Errorf("%w: %s (object %s holds %q)", grants.ErrNotFound, id, name, o.Spec.ID)
	}
	return &o, nil
}

// Update implements grants.Store.
func (s *Store) Update(ctx context.Context, r *grants.Request) error {
	if r.Version == "" {
		// Without a resourceVersion the apiserver would overwrite blindly.
		if _, err := s.get(ctx, r.ID); err != nil {
			return err
		}
		return fmt.Errorf("%w: %s has no version", grants.ErrConflict, r.ID)
	}
	o := toObject(r, s.ns)
	cctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if err := s.client.Update(cctx, o); err != nil {
		switch {
		case apierrors.IsConflict(err):
			return fmt.Errorf("%w: %s is no longer at version %s", grants.ErrConflict, r.ID, r.Version)
		case isObjectNotFound(err):
			return fmt.Errorf("%w: %s", grants.ErrNotFound, r.ID)
		}
		return s.fail(ctx, "update access request "+r.ID, err)
	}
	r.Version = o.ResourceVersion
	return nil
}

// List implements grants.Store.
func (s *Store) List(ctx context.Context, f grants.Filter) ([]*grants.Request, error) {
	sel := labels.NewSelector()
	if f.Principal != "" {
		req, err := labels.NewRequirement(labelPrincipal, selection.Equals, []string{principalLabel(f.Principal)})
		if err != nil {
			return nil, fmt.Errorf("list access requests: %w", err)
		}
		sel = sel.Add(*req)
	}
	if len(f.Status) > 0 {
		states := make([]string, len(f.Status))
		for i, st := range f.Status {
			states[i] = string(st)
		}
		req, err := labels.NewRequirement(labelState, selection.In, states)
		if err != nil {
			return nil, fmt.Errorf("list access requests: %w", err)
		}
		sel = sel.Add(*req)
	}
	var out []*grants.Request
	err := s.list(ctx, sel, func(o *v1alpha1.AgentGrant) error {
		r, err := fromObject(o)
		if err != nil {
			return err
		}
		if (f.Principal == "" || r.Principal.String() == f.Principal) &&
			(len(f.Status) == 0 || slices.Contains(f.Status, r.Status)) {
			out = append(out, r)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sortOldestFirst(out)
	return out, nil
}

// FindIdempotent implements grants.Store.
func (s *Store) FindIdempotent(ctx context.Context, requester, key string) (*grants.Request, error) {
	sel := labels.SelectorFromSet(labels.Set{labelIdempotency: idempotencyLabel(requester, key)})
	var found []*grants.Request
	err := s.list(ctx, sel, func(o *v1alpha1.AgentGrant) error {
		if o.Spec.Requester != requester || o.Spec.IdempotencyKey != key {
			return nil
		}
		r, err := fromObject(o)
		if err != nil {
			return err
		}
		found = append(found, r)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(found) == 0 {
		return nil, fmt.Errorf("%w: no request from %s with idempotency key %q", grants.ErrNotFound, requester, key)
	}
	sortOldestFirst(found)
	return found[0], nil
}

// list calls fn with every object sel matches, a page at a time. Each
// page is a separate, bounded call.
func (s *Store) list(ctx context.Context, sel labels.Selector, fn func(*v1alpha1.AgentGrant) error) error {
	cont := ""
	for {
		var l v1alpha1.AgentGrantList
		cctx, cancel := context.WithTimeout(ctx, s.timeout)
		err := s.client.List(cctx, &l, &client.ListOptions{Namespace: s.ns, LabelSelector: sel, Limit: listPageSize, Continue: cont})
		cancel()
		if err != nil {
			return s.fail(ctx, "list access requests", err)
		}
		for i := range l.Items {
			if err := fn(&l.Items[i]); err != nil {
				return err
			}
		}
		if cont = l.Continue; cont == "" {
			return nil
		}
	}
}

// fail wraps an apiserver error the caller cannot act on as
// grants.ErrUnavailable, unless the caller's own context ended or the
// object was refused as invalid (a bug, not an outage).
func (s *Store) fail(ctx context.Context, op string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%s: %w", op, errors.Join(context.Cause(ctx), err))
	}
	if apierrors.IsInvalid(err) || apierrors.IsBadRequest(err) {
		return fmt.Errorf("%s: %w", op, err)
	}
	return fmt.Errorf("%s: %w: %w", op, grants.ErrUnavailable, err)
}

// isObjectNotFound reports a 404 for the object itself; a 404 without
// details means the resource type is missing (CRD not installed), which is
// an outage, not an unknown request.
func isObjectNotFound(err error) bool {
	var st apierrors.APIStatus
	if !errors.As(err, &st) || st.Status().Code != http.StatusNotFound {
		return false
	}
	d := st.Status().Details
	return d != nil && d.Name != "" && d.Kind != "namespaces"
}

func sortOldestFirst(rs []*grants.Request) {
	slices.SortStableFunc(rs, func(a, b *grants.Request) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
}
