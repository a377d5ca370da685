package main

import (
	"context"
	"encoding/json"
	"fmt"
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

// TestDrive runs passes against a server that gets some decisions wrong and
// fails others: both must be counted, and only answered requests timed.
func TestDrive(t *testing.T) {
	t.Parallel()
	const n = 1000
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct{ I int }
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.I%50 == 7 {
			http.Error(w, `{"error":"no"}`, http.StatusInternalServerError)
			return
		}
		_, _ = fmt.Fprintf(w, `{"decision":%v}`, body.I%2 == 0)
	}))
	t.Cleanup(srv.Close)

	reqs := make([]Request, n)
	bodies := make([][]byte, n)
	wantErrors, wantMismatches := 0, 0
	for i := range reqs {
		bodies[i] = []byte(fmt.Sprintf(`{"i":%d}`, i))
		reqs[i].Expect = i%2 == 0
		switch i % 50 {
		case 7:
			wantErrors++
		case 13:
			reqs[i].Expect = !reqs[i].Expect
			wantMismatches++
		}
	}
	addr := strings.TrimPrefix(srv.URL, "http://")
	for _, client := range []string{"raw", "nethttp"} {
		t.Run(client, func(t *testing.T) {
			t.Parallel()
			tg := &target{name: "fake", bodies: bodies, decode: decodePDP}
			tg.newPoster = func() poster { return newRawPoster(addr, "/") }
			if client == "nethttp" {
				c := newHTTPClient(4)
				tg.newPoster = func() poster { return &netHTTPPoster{client: c, url: srv.URL} }
			}
			res := drive(context.Background(), tg, reqs, n, 4, "test")
			if res.sent != n || res.errors != wantErrors || res.mismatchN != wantMismatches {
				t.Errorf("sent %d, errors %d, mismatches %d; want %d, %d, %d (first error: %s)",
					res.sent, res.errors, res.mismatchN, n, wantErrors, wantMismatches, res.firstErr)
			}
			if got, want := len(res.latencies), n-wantErrors; got != want {
				t.Errorf("%d latencies, want %d", got, want)
			}
			if len(res.mismatches) != keepMismatches || res.mismatches[0].index != 13 {
				t.Errorf("kept mismatches %v, want the first %d from #13", res.mismatches, keepMismatches)
			}
			if res.incomplete {
				t.Error("pass marked incomplete")
			}
		})
	}
}
