package kube

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/agentguard/agentguard/pdp/grants"
	"github.com/agentguard/agentguard/pdp/grants/storetest"
)

// checkUnavailable runs every request/response call against s and wants
// each to fail with grants.ErrUnavailable within limit.
func checkUnavailable(t *testing.T, s *Store, limit time.Duration) {
	t.Helper()
	ctx := context.Background()
	r := storetest.NewRequest("arq-down", "ns/sa", time.Now())
	r.Version = "1"
	calls := map[string]func() error{
		"create": func() error { return s.Create(ctx, storetest.NewRequest("arq-new", "ns/sa", time.Now())) },
		"get":    func() error { _, err := s.Get(ctx, "arq-down"); return err },
		"update": func() error { return s.Update(ctx, r) },
		"list":   func() error { _, err := s.List(ctx, grants.Filter{Principal: `Agent::"ns/sa"`}); return err },
		"find":   func() error { _, err := s.FindIdempotent(ctx, `Agent::"ns/sa"`, "k"); return err },
	}
	for name, call := range calls {
		start := time.Now()
		err := call()
		if !errors.Is(err, grants.ErrUnavailable) {
			t.Errorf("%s: %v, want ErrUnavailable", name, err)
		}
		if took := time.Since(start); took > limit {
			t.Errorf("%s took %v, want at most %v", name, took, limit)
		}
	}
}

// While the apiserver is stopped every call fails fast with
// ErrUnavailable; a running Watch rides out the outage and, once the
// apiserver is back, sees the changes made after it.
func TestApiserverStopped(t *testing.T) {
	env := newEnv(t)
	// An apiserver with a watch open outlasts a graceful stop; the
	// control plane kills what has not stopped by then.
	env.ControlPlaneStopTimeout = 3 * time.Second
	// A fixed certificate directory keeps the serving certificate across
	// the restart below.
	apiserver := env.ControlPlane.GetAPIServer()
	apiserver.CertDir = t.TempDir()
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("start envtest: %v", err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	ns := namespace(t, cfg)
	s, err := New(Options{Config: cfg, Namespace: ns, RequestTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	r := storetest.NewRequest("arq-down", "ns/sa", time.Now())
	if err := s.Create(ctx, r); err != nil {
		t.Fatal(err)
	}
	seen := watchInto(t, s)
	waitFor(t, seen, "stored request", func(g *grants.Request) bool { return g.ID == r.ID })

	if err := apiserver.Stop(); err != nil {
		t.Logf("stop kube-apiserver (killed after the grace period): %v", err)
	}
	checkUnavailable(t, s, 7*time.Second)

	if err := apiserver.Start(); err != nil {
		t.Fatalf("restart kube-apiserver: %v", err)
	}
	r.Status, r.ApprovedUntil = grants.StatusApproved, time.Now().Add(time.Hour)
	deadline := time.Now().Add(30 * time.Second)
	for err := s.Update(ctx, r); err != nil; err = s.Update(ctx, r) {
		if !errors.Is(err, grants.ErrUnavailable) || time.Now().After(deadline) {
			t.Fatalf("update after restart: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	waitFor(t, seen, "approval after the outage", func(g *grants.Request) bool {
		return g.ID == r.ID && g.Status == grants.StatusApproved
	})
}

// An apiserver that accepts connections and never answers cannot hold a
// call past RequestTimeout, and Watch reports its failed lists and still
// returns when its context ends.
func TestApiserverHangs(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // held open, never answered
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	watchErr := make(chan error, 16)
	s, err := New(Options{
		Config:         &rest.Config{Host: "https://" + ln.Addr().String(), TLSClientConfig: rest.TLSClientConfig{Insecure: true}},
		Namespace:      "agentguard-system",
		RequestTimeout: 500 * time.Millisecond,
		OnWatchError: func(err error) {
			select {
			case watchErr <- err:
			default:
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	checkUnavailable(t, s, 3*time.Second)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- s.Watch(ctx, func(*grants.Request) { t.Error("watch delivered a request from nowhere") })
	}()
	select {
	case err := <-watchErr:
		t.Logf("watch reported: %v", err)
	case <-time.After(10 * time.Second):
		t.Error("Watch did not report the unanswered list")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("watch: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Watch did not return after its context ended")
	}
}
