package grants

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

var (
	bucketRequests = []byte("requests")
	bucketIdem     = []byte("idempotency")
)

// BoltStore keeps requests in a bbolt file: the store for a standalone PDP
// (`make run`). Its Watch sees the changes made through this process.
type BoltStore struct {
	db *bolt.DB

	mu   sync.Mutex
	subs map[int]chan *Request
	next int
}

var _ Store = (*BoltStore)(nil)

// OpenBolt opens (creating if needed) the bbolt file at path.
func OpenBolt(path string) (*BoltStore, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("open grant store %q: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketRequests, bucketIdem} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("init grant store %q: %w", path, err)
	}
	return &BoltStore{db: db, subs: map[int]chan *Request{}}, nil
}

// Close closes the file.
func (s *BoltStore) Close() error { return s.db.Close() }

func idemKey(requester, key string) []byte { return []byte(requester + "\x00" + key) }

// Create implements Store.
func (s *BoltStore) Create(_ context.Context, r *Request) error {
	if r.ID == "" {
		return errors.New("access request has no id")
	}
	var stored *Request
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketRequests)
		if b.Get([]byte(r.ID)) != nil {
			return fmt.Errorf("%w: %s", ErrExists, r.ID)
		}
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		c := r.Clone()
		c.Version = strconv.FormatUint(seq, 10)
		if err := putJSON(b, c); err != nil {
			return err
		}
		if r.IdempotencyKey != "" {
			if err := tx.Bucket(bucketIdem).Put(idemKey(r.Requester, r.IdempotencyKey), []byte(r.ID)); err != nil {
				return err
			}
		}
		stored = c
		return nil
	})
	if err != nil {
		return err
	}
	r.Version = stored.Version
	s.publish(stored)
	return nil
}

// Get implements Store.
func (s *BoltStore) Get(_ context.Context, id string) (*Request, error) {
	var out *Request
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		out, err = getJSON(tx.Bucket(bucketRequests), id)
		return err
	})
	return out, err
}

// Update implements Store.
func (s *BoltStore) Update(_ context.Context, r *Request) error {
	var stored *Request
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketRequests)
		cur, err := getJSON(b, r.ID)
		if err != nil {
			return err
		}
		if cur.Version != r.Version {
			return fmt.Errorf("%w: %s is at version %s, not %s", ErrConflict, r.ID, cur.Version, r.Version)
		}
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		c := r.Clone()
		c.Version = strconv.FormatUint(seq, 10)
		stored = c
		return putJSON(b, c)
	})
	if err != nil {
		return err
	}
	r.Version = stored.Version
	s.publish(stored)
	return nil
}

// List implements Store.
func (s *BoltStore) List(_ context.Context, f Filter) ([]*Request, error) {
	var out []*Request
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketRequests).ForEach(func(_, v []byte) error {
			var r Request
			if err := json.Unmarshal(v, &r); err != nil {
				return err
			}
			if f.matches(&r) {
				out = append(out, &r)
			}
			return nil
		})
	})
	sortOldestFirst(out)
	return out, err
}

// FindIdempotent implements Store.
func (s *BoltStore) FindIdempotent(_ context.Context, requester, key string) (*Request, error) {
	var out *Request
	err := s.db.View(func(tx *bolt.Tx) error {
		id := tx.Bucket(bucketIdem).Get(idemKey(requester, key))
		if id == nil {
			return ErrNotFound
		}
		var err error
		out, err = getJSON(tx.Bucket(bucketRequests), string(id))
		return err
	})
	return out, err
}

// Watch implements Store.
func (s *BoltStore) Watch(ctx context.Context, fn func(*Request)) error {
	ch := make(chan *Request, 1024)
	s.mu.Lock()
	id := s.next
	s.next++
	s.subs[id] = ch
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.subs, id)
		s.mu.Unlock()
	}()
	// Subscribed first, listed second: a change in between arrives twice,
	// never not at all; consumers are idempotent.
	all, err := s.List(ctx, Filter{})
	if err != nil {
		return err
	}
	for _, r := range all {
		fn(r)
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case r := <-ch:
			fn(r)
		}
	}
}

// publish hands a change to every watcher. A watcher that has fallen 1024
// changes behind blocks writers rather than miss a revocation.
func (s *BoltStore) publish(r *Request) {
	s.mu.Lock()
	subs := make([]chan *Request, 0, len(s.subs))
	for _, ch := range s.subs {
		subs = append(subs, ch)
	}
	s.mu.Unlock()
	for _, ch := range subs {
		ch <- r.Clone()
	}
}

func putJSON(b *bolt.Bucket, r *Request) error {
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return b.Put([]byte(r.ID), data)
}

func getJSON(b *bolt.Bucket, id string) (*Request, error) {
	v := b.Get([]byte(id))
	if v == nil {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	var r Request
	if err := json.NewDecoder(bytes.NewReader(v)).Decode(&r); err != nil {
		return nil, fmt.Errorf("decode access request %s: %w", id, err)
	}
	return &r, nil
}

func (f Filter) matches(r *Request) bool {
	if f.Principal != "" && r.Principal.String() != f.Principal {
		return false
	}
	return len(f.Status) == 0 || slices.Contains(f.Status, r.Status)
}

func sortOldestFirst(rs []*Request) {
	slices.SortStableFunc(rs, func(a, b *Request) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		if a.ID < b.ID {
			return -1
		}
		if a.ID > b.ID {
			return 1
		}
		return 0
	})
}
