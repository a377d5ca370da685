package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestPosters sends the same requests through both clients to a real HTTP
// server answering in every framing the servers under test may use.
func TestPosters(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	mux.HandleFunc("POST /length", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(b) // small: net/http sets Content-Length
	})
	mux.HandleFunc("POST /chunked", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		_, _ = w.Write(b[:1])
		w.(http.Flusher).Flush() // forces chunked encoding
		_, _ = w.Write(b[1:])
	})
	mux.HandleFunc("POST /close", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Connection", "close")
		_, _ = w.Write(b)
	})
	mux.HandleFunc("POST /error", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, `{"error":"bad"}`, http.StatusBadRequest)
	})
	mux.HandleFunc("POST /large", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(strings.Repeat("x", 40000)))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	addr := strings.TrimPrefix(srv.URL, "http://")

	for _, path := range []string{"/length", "/chunked", "/close", "/error", "/large"} {
		for name, newPoster := range map[string]func() poster{
			"raw":     func() poster { return newRawPoster(addr, path) },
			"nethttp": func() poster { return &netHTTPPoster{client: newHTTPClient(1), url: srv.URL + path} },
		} {
			t.Run(name+path, func(t *testing.T) {
				t.Parallel()
				p := newPoster()
				defer p.close()
				want := http.StatusOK
				if path == "/error" {
					want = http.StatusBadRequest
				}
				// Several requests over the same poster: keep-alive, and
				// reconnection after Connection: close.
				for i, body := range []string{`{"decision":true}`, `{"decision":false,"n":1}`, `{"decision":true,"n":22}`} {
					status, resp, err := p.post(context.Background(), []byte(body))
					if err != nil {
						t.Fatalf("request %d: %v", i, err)
					}
					if status != want {
						t.Errorf("request %d: status %d, want %d", i, status, want)
					}
					switch path {
					case "/error":
						if !strings.Contains(string(resp), `"error"`) {
							t.Errorf("request %d: body %q", i, resp)
						}
					case "/large":
						if len(resp) != 40000 {
							t.Errorf("request %d: %d body bytes, want 40000", i, len(resp))
						}
					default:
						if string(resp) != body {
							t.Errorf("request %d: body %q, want %q", i, resp, body)
						}
					}
				}
			})
		}
	}
}
