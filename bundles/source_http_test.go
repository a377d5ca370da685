package bundles

import (
	"context"
	"crypto"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// bundleServer serves an archive over HTTPS and can be switched to fail,
// hang, or drop its ETag.
type bundleServer struct {
	mu       sync.Mutex
	archive  []byte
	etag     string
	mode     string // "", "fail", "hang"
	requests []string
	srv      *httptest.Server
}

func newBundleServer(t *testing.T) *bundleServer {
	s := &bundleServer{}
	s.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		mode, archive, etag := s.mode, s.archive, s.etag
		s.requests = append(s.requests, r.Header.Get("If-None-Match"))
		s.mu.Unlock()
		switch mode {
		case "fail":
			http.Error(w, "boom", http.StatusInternalServerError)
			return
		case "hang":
			<-r.Context().Done()
			return
		}
		if etag != "" {
			w.Header().Set("ETag", etag)
			if r.Header.Get("If-None-Match") == etag {
				w.WriteHeader(http.StatusNotModified)
				return
			}
		}
		w.Header().Set("Content-Type", "application/gzip")
		_, _ = w.Write(archive)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *bundleServer) set(archive []byte, etag, mode string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.archive, s.etag, s.mode = archive, etag, mode
}

func (s *bundleServer) lastIfNoneMatch() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[len(s.requests)-1]
}

func TestManagerHTTPSource(t *testing.T) {
	t.Parallel()
	key := mustKey(t, ES256)
	rev := func(r string) []byte { return mustArchive(t, mustSign(t, mustNew(t, testFiles(r)), key)) }
	srv := newBundleServer(t)
	srv.set(rev("1"), `"v1"`, "")
	acts := &activations{}
	clk := newClock(time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC))
	m, err := NewManager(Options{
		Source:        srv.srv.URL + "/bundles/default.tar.gz?token=secret",
		SourceOptions: SourceOptions{HTTPClient: srv.srv.Client()},
		PublicKeys:    []crypto.PublicKey{key.Public()},
		Activate:      acts.activate,
		FetchTimeout:  300 * time.Millisecond,
		Now:           clk.now,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if strings.Contains(m.Status().Source, "secret") {
		t.Errorf("status source %q leaks the query token", m.Status().Source)
	}

	// First fetch activates revision 1.
	if err := m.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	st := m.Status()
	if !st.Active || st.Revision != "1" || !st.Verified || st.Signer == "" || !st.LastSuccess.Equal(clk.now()) {
		t.Fatalf("status after first fetch: %+v", st)
	}
	select {
	case <-m.Ready():
	default:
		t.Fatal("Ready not closed after activation")
	}

	// Unchanged: a conditional request, 304, no activation, fresh success.
	clk.advance(time.Minute)
	if err := m.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if got := srv.lastIfNoneMatch(); got != `"v1"` {
		t.Errorf("If-None-Match = %q, want the ETag", got)
	}
	if st := m.Status(); !st.LastSuccess.Equal(clk.now()) {
		t.Errorf("LastSuccess %v not updated on 304", st.LastSuccess)
	}

	steps := []struct {
		name    string
		archive []byte
		etag    string
		mode    string
		refuse  func(*Bundle) error
		wantErr string // substring of the error and of Status().LastError
	}{
		{name: "server fails", mode: "fail", wantErr: "500"},
		{name: "server hangs", mode: "hang", wantErr: "deadline exceeded"},
		{name: "not an archive", archive: []byte("<html>"), etag: `"html"`, wantErr: "bad bundle archive"},
		{
			name: "edited file", etag: `"v2-tampered"`, wantErr: "pdp/tools.cedar",
			archive: func() []byte {
				b := tamper(t, mustSign(t, mustNew(t, testFiles("2")), key), func(f map[string][]byte) { f["pdp/tools.cedar"] = []byte("forbid(principal, action, resource);") })
				return mustArchive(t, b)
			}(),
		},
		{name: "signed by another key", archive: mustArchive(t, mustSign(t, mustNew(t, testFiles("2")), mustKey(t, Ed25519))), etag: `"v2-other"`, wantErr: "no trusted key"},
		{name: "unsigned", archive: mustArchive(t, mustNew(t, testFiles("2"))), etag: `"v2-unsigned"`, wantErr: "not signed"},
		{name: "invalid policy", archive: rev("2"), etag: `"v2"`, refuse: func(*Bundle) error { return errors.New("pdp/tools.cedar:1: invalid") }, wantErr: "pdp/tools.cedar:1: invalid"},
	}
	for _, s := range steps {
		srv.set(s.archive, s.etag, s.mode)
		acts.mu.Lock()
		acts.refuse = s.refuse
		acts.mu.Unlock()
		clk.advance(time.Minute)
		err := m.Sync(ctx)
		if err == nil || !strings.Contains(err.Error(), s.wantErr) {
			t.Fatalf("%s: err = %v, want one containing %q", s.name, err, s.wantErr)
		}
		st := m.Status()
		if st.Revision != "1" || !strings.Contains(st.LastError, s.wantErr) || !st.LastErrorAt.Equal(clk.now()) {
			t.Fatalf("%s: status %+v, want revision 1 still active and the error recorded", s.name, st)
		}
	}
	if st := m.Status(); st.ConsecutiveFailures != len(steps) {
		t.Errorf("ConsecutiveFailures = %d, want %d", st.ConsecutiveFailures, len(steps))
	}

	// The good revision 2 is activated once the source serves it; the
	// refused ETag of the same bytes is not remembered.
	acts.mu.Lock()
	acts.refuse = nil
	acts.mu.Unlock()
	if err := m.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if got := srv.lastIfNoneMatch(); got != `"v1"` {
		t.Errorf("If-None-Match = %q, want the ETag of the active bundle", got)
	}
	if st := m.Status(); st.Revision != "2" || st.ConsecutiveFailures != 0 {
		t.Fatalf("status %+v, want revision 2", st)
	}

	// Without an ETag, the body digest decides.
	srv.set(rev("3"), "", "")
	if err := m.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"1", "2", "3"}, acts.list()); diff != "" {
		t.Errorf("activations (-want +got):\n%s", diff)
	}
}
