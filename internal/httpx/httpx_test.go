package httpx_test

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/agentguard/agentguard/internal/httpx"
)

func TestPanicBecomes500WithRequestID(t *testing.T) {
	h := httpx.WithRequestID(slog.New(slog.DiscardHandler), http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic("boom")
	}))
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("X-Request-ID", "rid-1")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var body httpx.ErrorBody
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if rec.Code != 500 || body.RequestID != "rid-1" || strings.Contains(body.Error, "boom") {
		t.Fatalf("%d %+v: want a 500 with the request id and no panic details", rec.Code, body)
	}
}

func TestReadJSONBody(t *testing.T) {
	tests := []struct {
		name, method, ctype, body string
		length                    int64
		status                    int
	}{
		{"ok", "POST", "application/json", `{}`, -2, 0},
		{"ok with charset", "POST", "application/json; charset=utf-8", `{}`, -2, 0},
		{"unknown length", "POST", "application/json", `{"a":1}`, -1, 0},
		{"too large", "POST", "application/json", strings.Repeat("x", 100), -2, 413},
		{"too large, unknown length", "POST", "application/json", strings.Repeat("x", 100), -1, 413},
		{"short body", "POST", "application/json", `{}`, 10, 400},
		{"wrong type", "POST", "text/plain", `{}`, -2, 415},
		{"wrong method", "PUT", "application/json", `{}`, -2, 405},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, "/", strings.NewReader(tt.body))
			req.Header.Set("Content-Type", tt.ctype)
			if tt.length != -2 {
				req.ContentLength = tt.length
			}
			_, err := httpx.ReadJSONBody(httptest.NewRecorder(), req, 64)
			status := 0
			var he *httpx.Error
			if errors.As(err, &he) {
				status = he.Status
			} else if err != nil {
				t.Fatalf("error %v is not an *httpx.Error", err)
			}
			if status != tt.status {
				t.Fatalf("status %d (%v), want %d", status, err, tt.status)
			}
		})
	}
}

// TestRequestIDs: the caller's id is echoed; without one, a success has
// none and an error gets a fresh one, the same in its header and body.
func TestRequestIDs(t *testing.T) {
	ok := httpx.WithRequestID(slog.New(slog.DiscardHandler), http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	bad := httpx.WithRequestID(slog.New(slog.DiscardHandler), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		httpx.WriteError(w, r, httpx.Errorf(http.StatusBadRequest, "no"))
	}))
	for _, tc := range []struct {
		name    string
		h       http.Handler
		sent    string
		wantHdr string // "*" any non-empty
	}{
		{"echoed", ok, "rid-7", "rid-7"},
		{"none on success", ok, "", ""},
		{"made for an error", bad, "", "*"},
		{"echoed on an error", bad, "rid-8", "rid-8"},
		{"too long dropped", ok, strings.Repeat("x", 129), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest("POST", "/", nil)
			if tc.sent != "" {
				req.Header.Set("X-Request-ID", tc.sent)
			}
			rec := httptest.NewRecorder()
			tc.h.ServeHTTP(rec, req)
			got := rec.Header().Get("X-Request-ID")
			if tc.wantHdr == "*" && got == "" || tc.wantHdr != "*" && got != tc.wantHdr {
				t.Fatalf("X-Request-ID = %q, want %q", got, tc.wantHdr)
			}
			if rec.Code >= 400 {
				var body httpx.ErrorBody
				if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.RequestID != got {
					t.Errorf("body %s: request_id %q, header %q", rec.Body, body.RequestID, got)
				}
			}
		})
	}
}
