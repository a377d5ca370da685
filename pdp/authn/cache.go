package authn

import (
	"container/list"
	"crypto/sha256"
	"sync"
	"time"
)

// tokenKey is the cache key of a token: its SHA-256, so the cache never
// holds a usable credential.
type tokenKey [sha256.Size]byte

// cacheEntry is a remembered TokenReview result: an identity or a refusal.
type cacheEntry struct {
	key     tokenKey
	id      *Identity
	err     error
	expires time.Time
}

// resultCache is a size-bounded LRU of TokenReview results, each with its own
// expiry. Safe for concurrent use.
type resultCache struct {
	mu    sync.Mutex
	max   int
	ll    *list.List // front = most recently used
	items map[tokenKey]*list.Element
}

func newResultCache(max int) *resultCache {
	return &resultCache{max: max, ll: list.New(), items: make(map[tokenKey]*list.Element)}
}

// get returns the unexpired entry for k.
func (c *resultCache) get(k tokenKey, now time.Time) (cacheEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[k]
	if !ok {
		return cacheEntry{}, false
	}
	e := el.Value.(*cacheEntry)
	if !now.Before(e.expires) {
		c.ll.Remove(el)
		delete(c.items, k)
		return cacheEntry{}, false
	}
	c.ll.MoveToFront(el)
	return *e, true
}

// put stores e, evicting the least recently used entries beyond max.
func (c *resultCache) put(e cacheEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[e.key]; ok {
		*el.Value.(*cacheEntry) = e
		c.ll.MoveToFront(el)
		return
	}
	c.items[e.key] = c.ll.PushFront(&e)
	for c.ll.Len() > c.max {
		el := c.ll.Back()
		c.ll.Remove(el)
		delete(c.items, el.Value.(*cacheEntry).key)
	}
}

// len returns the number of entries, expired ones included.
func (c *resultCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ll.Len()
}
