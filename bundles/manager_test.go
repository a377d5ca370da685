package bundles

import (
	"context"
	"crypto"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
)

// activations records what Activate saw, and can refuse bundles.
type activations struct {
	mu     sync.Mutex
	revs   []string
	refuse func(*Bundle) error
}

func (a *activations) activate(_ context.Context, b *Bundle) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.refuse != nil {
		if err := a.refuse(b); err != nil {
			return err
		}
	}
	a.revs = append(a.revs, b.Revision())
	return nil
}

func (a *activations) list() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.revs...)
}

// clock is a settable test clock.
type clock struct{ t atomic.Int64 }

func (c *clock) now() time.Time          { return time.Unix(0, c.t.Load()) }
func (c *clock) set(t time.Time)         { c.t.Store(t.UnixNano()) }
func newClock(t time.Time) *clock        { c := &clock{}; c.set(t); return c }
func (c *clock) advance(d time.Duration) { c.t.Add(int64(d)) }

func TestManagerRefusesReplayAndIncompatible(t *testing.T) {
	t.Parallel()
	key := mustKey(t, Ed25519)
	dir := t.TempDir()
	file := filepath.Join(dir, "bundle.tar.gz")
	write := func(files map[string][]byte) {
		t.Helper()
		if err := os.WriteFile(file, mustArchive(t, mustSign(t, mustNew(t, files), key)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	acts := &activations{}
	var events []Event
	m, err := NewManager(Options{
		Source: file, PublicKeys: []crypto.PublicKey{key.Public()}, MinRevision: "2026.11.27-2",
		Version: "0.3.0", Activate: acts.activate, Observe: func(e Event) { events = append(events, e) },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := m.Sync(ctx); err == nil {
		t.Fatal("missing file: no error")
	}
	write(testFiles("2026.11.27-1"))
	if err := m.Sync(ctx); !errors.Is(err, ErrRevisionTooOld) {
		t.Fatalf("older revision: err = %v, want ErrRevisionTooOld", err)
	}
	files := testFiles("2026.11.27-3")
	files[".manifest"] = []byte(`{"name":"test","revision":"2026.11.27-3","minAgentguardVersion":"0.4.0"}`)
	write(files)
	if err := m.Sync(ctx); !errors.Is(err, ErrIncompatible) {
		t.Fatalf("newer agentguard needed: err = %v, want ErrIncompatible", err)
	}
	write(testFiles("2026.11.27-10"))
	if err := m.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"2026.11.27-10"}, acts.list()); diff != "" {
		t.Errorf("activations (-want +got):\n%s", diff)
	}
	var reasons []string
	for _, e := range events {
		reasons = append(reasons, e.Reason+"/"+e.Revision)
	}
	want := []string{ReasonFetch + "/", ReasonVerify + "/", ReasonVersion + "/", "/2026.11.27-10"}
	if diff := cmp.Diff(want, reasons); diff != "" {
		t.Errorf("observed events (-want +got):\n%s", diff)
	}
}

func TestManagerRefusesOlderThanActive(t *testing.T) {
	t.Parallel()
	key := mustKey(t, ES256)
	file := filepath.Join(t.TempDir(), "b.tar.gz")
	acts := &activations{}
	m, err := NewManager(Options{
		Source: file, PublicKeys: []crypto.PublicKey{key.Public()}, Activate: acts.activate, RefuseOlderRevisions: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct {
		rev  string
		want error
	}{{"5", nil}, {"4", ErrRevisionTooOld}, {"5", nil}, {"10", nil}, {"9", ErrRevisionTooOld}} {
		files := testFiles(step.rev)
		files["pdp/note.txt"] = []byte(time.Now().String()) // a new version of the same revision
		if err := os.WriteFile(file, mustArchive(t, mustSign(t, mustNew(t, files), key)), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := m.Sync(context.Background()); !errors.Is(err, step.want) {
			t.Fatalf("revision %s: err = %v, want %v", step.rev, err, step.want)
		}
	}
	if diff := cmp.Diff([]string{"5", "5", "10"}, acts.list()); diff != "" {
		t.Errorf("activations (-want +got):\n%s", diff)
	}
}

func TestManagerRestartUsesLastKnownGood(t *testing.T) {
	t.Parallel()
	key := mustKey(t, ES256)
	srv := newBundleServer(t)
	srv.set(mustArchive(t, mustSign(t, mustNew(t, testFiles("7")), key)), `"v7"`, "")
	cache := filepath.Join(t.TempDir(), "cache")
	opts := func(a *activations) Options {
		return Options{
			Source: srv.srv.URL, SourceOptions: SourceOptions{HTTPClient: srv.srv.Client()},
			PublicKeys: []crypto.PublicKey{key.Public()}, Activate: a.activate, CacheDir: cache,
			MinBackoff: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond, FetchTimeout: time.Second,
		}
	}
	first := &activations{}
	m1, err := NewManager(opts(first))
	if err != nil {
		t.Fatal(err)
	}
	if err := m1.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(filepath.Join(cache, cacheFile)); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("persisted bundle: %v %v", st, err)
	}

	// Restart while the source is down.
	srv.set(nil, "", "fail")
	second := &activations{}
	m2, err := NewManager(opts(second))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m2.Run(ctx) }()
	select {
	case <-m2.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("not ready from the last-known-good bundle")
	}
	waitFor(t, func() bool { return m2.Status().ConsecutiveFailures >= 2 })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	st := m2.Status()
	if st.Revision != "7" || !strings.HasSuffix(st.ActiveSource, cacheFile) || !st.LastSuccess.IsZero() || !strings.Contains(st.LastError, "500") {
		t.Errorf("status %+v: want revision 7 from the cache, no success, the fetch error", st)
	}

	// A tampered last-known-good file is refused like any other bundle.
	data, err := os.ReadFile(filepath.Join(cache, cacheFile))
	if err != nil {
		t.Fatal(err)
	}
	b, err := ReadArchive(strings.NewReader(string(data)), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	bad := tamper(t, b, func(f map[string][]byte) { f["pdp/tools.cedar"] = []byte("tampered") })
	if err := os.WriteFile(filepath.Join(cache, cacheFile), mustArchive(t, bad), 0o600); err != nil {
		t.Fatal(err)
	}
	third := &activations{}
	m3, err := NewManager(opts(third))
	if err != nil {
		t.Fatal(err)
	}
	m3.LoadLastKnownGood(context.Background())
	if st := m3.Status(); st.Active || !strings.Contains(st.LastError, "pdp/tools.cedar") {
		t.Errorf("status %+v: want no active bundle and the tampered file named", st)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestManagerWatchesDirectory(t *testing.T) {
	t.Parallel()
	key := mustKey(t, ES256)
	dir := t.TempDir()
	if err := WriteDir(dir, mustSign(t, mustNew(t, testFiles("1")), key)); err != nil {
		t.Fatal(err)
	}
	acts := &activations{}
	m, err := NewManager(Options{
		Source: dir, PublicKeys: []crypto.PublicKey{key.Public()}, Activate: acts.activate,
		PollInterval: time.Hour, // only the watch can pick up the change
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = m.Run(ctx) }()
	<-m.Ready()
	// Wait until the watch is set up: the first activation happens after
	// it, so a little slack is enough.
	time.Sleep(100 * time.Millisecond)
	if err := WriteDir(dir, mustSign(t, mustNew(t, testFiles("2")), key)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return m.Status().Revision == "2" })
	// An unsigned edit is refused; revision 2 stays.
	if err := os.WriteFile(filepath.Join(dir, "pdp", "tools.cedar"), []byte("edited"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return strings.Contains(m.Status().LastError, "pdp/tools.cedar") })
	if st := m.Status(); st.Revision != "2" {
		t.Errorf("revision %q after a bad edit, want 2", st.Revision)
	}
}

func TestManagerMetrics(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	exp, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithoutScopeInfo())
	if err != nil {
		t.Fatal(err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp))
	key := mustKey(t, ES256)
	file := filepath.Join(t.TempDir(), "b.tar.gz")
	if err := os.WriteFile(file, mustArchive(t, mustSign(t, mustNew(t, testFiles("5")), key)), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := NewManager(Options{
		Source: file, PublicKeys: []crypto.PublicKey{key.Public()},
		Activate: (&activations{}).activate, MeterProvider: mp,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := m.Sync(context.Background()); err == nil {
		t.Fatal("garbage accepted")
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, met := range mf.GetMetric() {
			var v float64
			switch {
			case met.GetGauge() != nil:
				v = met.GetGauge().GetValue()
			case met.GetCounter() != nil:
				v = met.GetCounter().GetValue()
			}
			labels := map[string]string{}
			for _, l := range met.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			key := mf.GetName()
			if r := labels["reason"]; r != "" {
				key += "{reason=" + r + "}"
			}
			if r := labels["revision"]; r != "" {
				key += "{revision=" + r + "}"
			}
			got[key] = v
		}
	}
	if v := got["agentguard_bundle_last_success_timestamp_seconds"]; v < float64(time.Now().Add(-time.Minute).Unix()) {
		t.Errorf("last success timestamp = %v (metrics %v)", v, got)
	}
	if v := got["agentguard_bundle_revision_info{revision=5}"]; v != 1 {
		t.Errorf("revision info = %v (metrics %v)", v, got)
	}
	if v := got["agentguard_bundle_failures_total{reason=fetch}"]; v != 1 {
		t.Errorf("fetch failures = %v (metrics %v)", v, got)
	}
	if v := got["agentguard_bundle_activations_total"]; v != 1 {
		t.Errorf("activations = %v (metrics %v)", v, got)
	}
}

func TestNewManagerRefusesBadOptions(t *testing.T) {
	t.Parallel()
	key := mustKey(t, ES256)
	act := func(context.Context, *Bundle) error { return nil }
	dir := t.TempDir()
	tests := []struct {
		name string
		opts Options
	}{
		{name: "no activate", opts: Options{Source: dir, PublicKeys: []crypto.PublicKey{key.Public()}}},
		{name: "no key", opts: Options{Source: dir, Activate: act}},
		{name: "key and insecure", opts: Options{Source: dir, Activate: act, PublicKeys: []crypto.PublicKey{key.Public()}, InsecureSkipVerify: true}},
		{name: "no source", opts: Options{Activate: act, InsecureSkipVerify: true}},
		{name: "plain http", opts: Options{Source: "http://example.com/b.tar.gz", Activate: act, InsecureSkipVerify: true}},
		{name: "unknown scheme", opts: Options{Source: "s3://bucket/b.tar.gz", Activate: act, InsecureSkipVerify: true}},
		{name: "missing directory", opts: Options{Source: filepath.Join(dir, "nope"), Activate: act, InsecureSkipVerify: true}},
		{name: "bad oci reference", opts: Options{Source: "oci://UPPER/Case::", Activate: act, InsecureSkipVerify: true}},
		{name: "unsupported key", opts: Options{Source: dir, Activate: act, PublicKeys: []crypto.PublicKey{"not a key"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewManager(tt.opts); err == nil {
				t.Error("accepted")
			}
		})
	}
}

func TestManagerInsecureSkipVerify(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := WriteDir(dir, mustNew(t, testFiles("1"))); err != nil {
		t.Fatal(err)
	}
	m, err := NewManager(Options{Source: dir, InsecureSkipVerify: true, Activate: (&activations{}).activate})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := m.Status(); !st.Active || st.Verified || st.Signer != "" {
		t.Errorf("status %+v, want active and unverified", st)
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	m := &Manager{opts: Options{MinBackoff: time.Second, MaxBackoff: 8 * time.Second}}
	for n, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 4: 8 * time.Second, 10: 8 * time.Second} {
		for range 20 {
			if got := m.backoff(n); got < want/2 || got > want {
				t.Fatalf("backoff(%d) = %v, want in [%v, %v]", n, got, want/2, want)
			}
		}
	}
	for range 20 {
		if got := jitter(10*time.Second, 0.1); got < 9*time.Second || got > 11*time.Second {
			t.Fatalf("jitter = %v", got)
		}
	}
}

// TestManagerWatchesConfigMapVolume mimics how the kubelet updates a
// ConfigMap volume: the file is a symlink through "..data", and an update
// swaps "..data" to a new directory.
func TestManagerWatchesConfigMapVolume(t *testing.T) {
	t.Parallel()
	key := mustKey(t, ES256)
	vol := t.TempDir()
	write := func(gen, rev string) {
		t.Helper()
		dir := filepath.Join(vol, "..gen"+gen)
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "bundle.tar.gz"), mustArchive(t, mustSign(t, mustNew(t, testFiles(rev)), key)), 0o644); err != nil {
			t.Fatal(err)
		}
		tmp := filepath.Join(vol, "..data_tmp")
		if err := os.Symlink("..gen"+gen, tmp); err != nil {
			t.Skipf("symlinks unsupported: %v", err)
		}
		if err := os.Rename(tmp, filepath.Join(vol, "..data")); err != nil {
			t.Fatal(err)
		}
	}
	write("1", "1")
	if err := os.Symlink("..data/bundle.tar.gz", filepath.Join(vol, "bundle.tar.gz")); err != nil {
		t.Fatal(err)
	}
	m, err := NewManager(Options{
		Source: filepath.Join(vol, "bundle.tar.gz"), PublicKeys: []crypto.PublicKey{key.Public()},
		Activate: (&activations{}).activate, PollInterval: time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = m.Run(ctx) }()
	<-m.Ready()
	time.Sleep(100 * time.Millisecond)
	write("2", "2")
	waitFor(t, func() bool { return m.Status().Revision == "2" })
}
