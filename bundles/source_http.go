package bundles

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// httpSource fetches a .tar.gz over HTTPS with conditional requests: the
// version is the response's ETag (sent back as If-None-Match), or the
// body's SHA-256 when the server sends none.
type httpSource struct {
	url    string
	opts   SourceOptions
	limits Limits
}

func newHTTPSource(raw string, opts SourceOptions) (*httpSource, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("bundle source %q: not a valid URL", raw)
	}
	return &httpSource{url: raw, opts: opts, limits: opts.Limits.withDefaults()}, nil
}

func (s *httpSource) String() string { return redactURL(s.url) }

const etagPrefix = "etag:"

func (s *httpSource) Fetch(ctx context.Context, since string) (*Fetched, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return nil, err
	}
	for k, vs := range s.opts.Header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	req.Header.Set("Accept", "application/gzip, application/octet-stream;q=0.9, */*;q=0.1")
	if etag, ok := strings.CutPrefix(since, etagPrefix); ok {
		req.Header.Set("If-None-Match", etag)
	}
	resp, err := s.opts.HTTPClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch bundle %s: %w", s, err)
	}
	defer func() { _ = resp.Body.Close() }()
	switch resp.StatusCode {
	case http.StatusNotModified:
		return nil, ErrNotModified
	case http.StatusOK:
	default:
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		return nil, fmt.Errorf("fetch bundle %s: HTTP %s", s, resp.Status)
	}
	if resp.ContentLength > s.limits.MaxArchiveBytes {
		return nil, fmt.Errorf("fetch bundle %s: %w: Content-Length %d > %d", s, ErrTooLarge, resp.ContentLength, s.limits.MaxArchiveBytes)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, s.limits.MaxArchiveBytes+1))
	if err != nil {
		return nil, fmt.Errorf("fetch bundle %s: %w", s, err)
	}
	if int64(len(data)) > s.limits.MaxArchiveBytes {
		return nil, fmt.Errorf("fetch bundle %s: %w: body larger than %d bytes", s, ErrTooLarge, s.limits.MaxArchiveBytes)
	}
	version := ""
	if etag := resp.Header.Get("ETag"); etag != "" {
		version = etagPrefix + etag
	} else {
		sum := sha256.Sum256(data)
		version = "sha256:" + hex.EncodeToString(sum[:])
	}
	if version == since {
		return nil, ErrNotModified
	}
	b, err := ReadArchive(bytes.NewReader(data), s.limits)
	if err != nil {
		return nil, fmt.Errorf("fetch bundle %s: %w", s, err)
	}
	b.Source = s.String()
	return &Fetched{Bundle: b, Version: version}, nil
}

// redactURL drops credentials and the query (which may hold a token) from
// a URL shown in status and errors.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "<invalid URL>"
	}
	u.User = nil
	if u.RawQuery != "" {
		u.RawQuery = "REDACTED"
	}
	return u.String()
}
