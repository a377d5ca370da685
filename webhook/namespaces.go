package webhook

import (
	"context"
	"maps"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// ClusterNamespaces reads namespace labels from the API server and caches
// them for TTL. A namespace's tenant label changes rarely and is itself
// protected by the webhook, so a short cache is safe.
type ClusterNamespaces struct {
	client kubernetes.Interface
	ttl    time.Duration
	now    func() time.Time

	mu    sync.Mutex
	cache map[string]nsEntry
}

type nsEntry struct {
	labels  map[string]string
	fetched time.Time
}

// NewClusterNamespaces returns a NamespaceLabeler over client. ttl <= 0
// means 5 seconds.
func NewClusterNamespaces(client kubernetes.Interface, ttl time.Duration) *ClusterNamespaces {
	if ttl <= 0 {
		ttl = 5 * time.Second
	}
	return &ClusterNamespaces{client: client, ttl: ttl, now: time.Now, cache: map[string]nsEntry{}}
}

var _ NamespaceLabeler = (*ClusterNamespaces)(nil)

// NamespaceLabels returns the labels of namespace name.
func (c *ClusterNamespaces) NamespaceLabels(ctx context.Context, name string) (map[string]string, error) {
	now := c.now()
	c.mu.Lock()
	e, ok := c.cache[name]
	c.mu.Unlock()
	if ok && now.Sub(e.fetched) < c.ttl {
		return e.labels, nil
	}
	ns, err := c.client.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	labels := maps.Clone(ns.Labels)
	c.mu.Lock()
	c.cache[name] = nsEntry{labels: labels, fetched: now}
	c.mu.Unlock()
	return labels, nil
}
