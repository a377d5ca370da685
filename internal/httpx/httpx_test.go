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
