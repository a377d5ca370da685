package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"time"
)

// poster sends one POST of a JSON body over a keep-alive connection and
// returns the status and body of the answer; the body is valid until the next
// call. A poster belongs to one worker.
type poster interface {
	post(ctx context.Context, body []byte) (status int, resp []byte, err error)
	close()
}

// requestTimeout bounds every single request.
const requestTimeout = 10 * time.Second

// newHTTPClient is a net/http client keeping a connection per worker alive.
func newHTTPClient(concurrency int) *http.Client {
	tr := &http.Transport{
		Proxy:               nil, // loopback only, never through a proxy
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        2 * concurrency,
		MaxIdleConnsPerHost: 2 * concurrency,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &http.Client{Transport: tr, Timeout: requestTimeout}
}

// netHTTPPoster posts through a shared net/http client.
type netHTTPPoster struct {
	client *http.Client
	url    string
	buf    bytes.Buffer
}

func (p *netHTTPPoster) post(ctx context.Context, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := p.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	p.buf.Reset()
	if _, err := p.buf.ReadFrom(resp.Body); err != nil {
		return 0, nil, err
	}
	return resp.StatusCode, p.buf.Bytes(), nil
}

func (p *netHTTPPoster) close() {}
