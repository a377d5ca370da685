package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/sony/gobreaker/v2"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"

	"github.com/agentguard/agentguard/pdp"
)

// Options configures New.
type Options struct {
	// BaseURL is the PDP, e.g. "https://agentguard-pdp.agentguard:8181".
	// Required.
	BaseURL string
	// HTTPClient sends the calls. Default: a keep-alive client.
	HTTPClient *http.Client
	// Token authenticates the calls (e.g. a FileToken on the projected
	// ServiceAccount token). Default: none.
	Token TokenSource
	// Timeout is each call's deadline, retries included. Default 1s.
	Timeout time.Duration
	// Retries is how often an evaluation is retried inside its deadline
	// after a network error or a 5xx. Default 2; negative disables.
	Retries int
	// BreakerFailures consecutive failures open the circuit; it stays open
	// for BreakerOpenFor, then lets one probe through. Defaults 5 and 5s.
	BreakerFailures uint32
	BreakerOpenFor  time.Duration
	// Policy returns the engine of the client's verified copy of the
	// bundle (kept fresh by the caller, e.g. with the bundles package): its
	// fallback.yaml decides the fallback, and local mode evaluates with
	// it. Nil, or a nil engine, means every fallback is deny.
	Policy func() *pdp.Engine
	// Grants is the grant set Policy's engine consults; the client fills
	// it with the caller's active grants from the PDP every GrantsRefresh
	// (default 30s) while the PDP is reachable. Nil disables the snapshot.
	Grants        *pdp.Grants
	GrantsRefresh time.Duration
	// QueueSize bounds the fallback records waiting for the PDP. Default
	// 1000; beyond it records are dropped and counted.
	QueueSize int
	// QueueFile, when set, keeps the queue on disk across restarts.
	QueueFile string
	// OnFallback sees every fallback decision, e.g. to log it.
	OnFallback func(Record)
	// MeterProvider records agentguard_client_fallback_total. Default no-op.
	MeterProvider metric.MeterProvider
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

func (o *Options) setDefaults() {
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Transport: &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			DialContext:         (&net.Dialer{Timeout: time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 64,
			IdleConnTimeout:     90 * time.Second,
			TLSHandshakeTimeout: 2 * time.Second,
		}}
	}
	if o.Timeout <= 0 {
		o.Timeout = time.Second
	}
	if o.Retries == 0 {
		o.Retries = 2
	}
	if o.BreakerFailures == 0 {
		o.BreakerFailures = 5
	}
	if o.BreakerOpenFor <= 0 {
		o.BreakerOpenFor = 5 * time.Second
	}
	if o.GrantsRefresh <= 0 {
		o.GrantsRefresh = 30 * time.Second
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 1000
	}
	if o.MeterProvider == nil {
		o.MeterProvider = metricnoop.NewMeterProvider()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Client asks the PDP and falls back as declared when it cannot.
type Client struct {
	opts    Options
	base    string
	breaker *gobreaker.CircuitBreaker[*http.Response]
	cache   *allowCache
	queue   *queue
	metrics *metrics
	prop    propagation.TextMapPropagator
	// skew is the PDP's clock minus ours, learnt from evaluated_at, so
	// that fallback decisions (cache age, grant expiry) follow the PDP's
	// clock even when this host's is wrong; slack bounds the estimate's
	// error (half the round trip plus the timestamp's precision).
	skew, slack atomic.Int64
}

// New checks opts and returns a Client. Close it to stop the background
// work and persist the queue.
func New(opts Options) (*Client, error) {
	opts.setDefaults()
	if opts.BaseURL == "" {
		return nil, errors.New("client: BaseURL is required")
	}
	q, err := newQueue(opts.QueueSize, opts.QueueFile)
	if err != nil {
		return nil, err
	}
	m, err := newMetrics(opts.MeterProvider)
	if err != nil {
		return nil, err
	}
	c := &Client{
		opts:    opts,
		base:    strings.TrimSuffix(opts.BaseURL, "/"),
		cache:   newAllowCache(10000),
		queue:   q,
		metrics: m,
		prop:    propagation.TraceContext{},
	}
	q.onDrop = func() { m.drops.Add(context.Background(), 1) }
	c.breaker = gobreaker.NewCircuitBreaker[*http.Response](gobreaker.Settings{
		Name:        "agentguard-pdp",
		MaxRequests: 1,
		Timeout:     opts.BreakerOpenFor,
		ReadyToTrip: func(cn gobreaker.Counts) bool { return cn.ConsecutiveFailures >= opts.BreakerFailures },
	})
	return c, nil
}

// Decision is what the client decided and how.
type Decision struct {
	Allowed bool
	// Source is "pdp", or "fallback" when the PDP could not be reached.
	Source string
	// Mode is the fallback mode applied (deny, cached, local, allow).
	Mode string
	// Reason explains a fallback, or is the PDP's reason code.
	Reason string
	// Context is the PDP's decision context, when it answered.
	Context json.RawMessage
}

// Sources of a Decision.
const (
	SourcePDP      = "pdp"
	SourceFallback = "fallback"
)

// RequestError is a refusal by the PDP that no fallback may override: the
// request is malformed (400), the caller is not authenticated (401) or may
// not ask (403). The call must be denied.
type RequestError struct {
	Status  int
	Message string
}

func (e *RequestError) Error() string {
	return fmt.Sprintf("pdp refused the request (%d): %s", e.Status, e.Message)
}

// errUnreachable wraps every failure that makes the client fall back.
var errUnreachable = errors.New("pdp unreachable")

// Evaluate asks the PDP about one call. When the PDP cannot be reached
// (network error, timeout, 5xx, open circuit) it returns the declared
// fallback decision and a nil error; a *RequestError means the PDP refused
// the request itself.
func (c *Client) Evaluate(ctx context.Context, req *pdp.Request) (Decision, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return Decision{}, err
	}
	sent := c.opts.Now()
	resp, err := c.post(ctx, "/access/v1/evaluation", body, true)
	received := c.opts.Now()
	if err != nil {
		if errors.Is(err, errUnreachable) {
			return c.fallback(ctx, req, err), nil
		}
		return Decision{}, err
	}
	var out struct {
		Decision bool            `json:"decision"`
		Context  json.RawMessage `json:"context"`
	}
	if err := json.Unmarshal(resp, &out); err != nil {
		return c.fallback(ctx, req, fmt.Errorf("%w: undecodable answer: %w", errUnreachable, err)), nil
	}
	d := Decision{Allowed: out.Decision, Source: SourcePDP, Context: out.Context, Reason: reasonOf(out.Context)}
	c.learnSkew(out.Context, sent, received)
	if d.Allowed {
		// The allow's age counts from the PDP's own reading of its clock.
		at := evaluatedAt(out.Context)
		if at.IsZero() {
			at = c.now()
		}
		c.cache.put(req, at, approvedUntil(out.Context))
	}
	c.queue.flushAsync(c)
	return d, nil
}

// post sends a JSON body within the call deadline, through the breaker.
// Retries (idempotent calls only) use jittered exponential backoff.
func (c *Client) post(ctx context.Context, path string, body []byte, idempotent bool) ([]byte, error) {
	return c.do(ctx, http.MethodPost, path, body, idempotent)
}

func (c *Client) do(parent context.Context, method, path string, body []byte, idempotent bool) ([]byte, error) {
	data, err := c.try(parent, method, path, body, idempotent)
	if err != nil && parent.Err() == nil && (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)) {
		// Our own deadline ran out: the PDP did not answer in time.
		return nil, fmt.Errorf("%w: no answer within %s", errUnreachable, c.opts.Timeout)
	}
	return data, err
}

func (c *Client) try(ctx context.Context, method, path string, body []byte, idempotent bool) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	tries := uint(1)
	if idempotent && c.opts.Retries > 0 {
		tries += uint(c.opts.Retries)
	}
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval = 20 * time.Millisecond
	bo.MaxInterval = 200 * time.Millisecond
	// The circuit breaker measures the decision path only: the grant list
	// and the record upload depend on the grant store and the decision
	// log, whose outages must not turn working decisions into fallbacks.
	exec := c.breaker.Execute
	if path != "/access/v1/evaluation" {
		exec = func(f func() (*http.Response, error)) (*http.Response, error) { return f() }
	}
	return backoff.Retry(ctx, func() ([]byte, error) {
		resp, err := exec(func() (*http.Response, error) {
			r, err := c.send(ctx, method, path, body)
			if err != nil {
				return nil, err
			}
			if r.StatusCode >= 500 {
				msg, _ := io.ReadAll(io.LimitReader(r.Body, 512))
				_ = r.Body.Close()
				return nil, fmt.Errorf("%w: status %d: %s", errUnreachable, r.StatusCode, bytes.TrimSpace(msg))
			}
			return r, nil
		})
		if err != nil {
			if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
				return nil, backoff.Permanent(fmt.Errorf("%w: circuit open", errUnreachable))
			}
			if !errors.Is(err, errUnreachable) {
				err = fmt.Errorf("%w: %w", errUnreachable, err)
			}
			return nil, err
		}
		defer func() { _ = resp.Body.Close() }()
		data, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
		if err != nil {
			return nil, fmt.Errorf("%w: read answer: %w", errUnreachable, err)
		}
		if resp.StatusCode >= 400 {
			var e struct {
				Error  string `json:"error"`
				Detail string `json:"detail"`
			}
			_ = json.Unmarshal(data, &e)
			return nil, backoff.Permanent(&RequestError{Status: resp.StatusCode, Message: e.Error + e.Detail})
		}
		return data, nil
	}, backoff.WithBackOff(bo), backoff.WithMaxTries(tries), backoff.WithMaxElapsedTime(c.opts.Timeout))
}

func (c *Client) send(ctx context.Context, method, path string, body []byte) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.opts.Token != nil {
		tok, err := c.opts.Token.Token()
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	c.prop.Inject(ctx, propagation.HeaderCarrier(req.Header))
	return c.opts.HTTPClient.Do(req)
}

// now is the client's estimate of the PDP's clock.
func (c *Client) now() time.Time {
	return c.opts.Now().Add(time.Duration(c.skew.Load()))
}

// fallbackNow is the latest the PDP's clock may read now: fallback
// decisions use it, so that an expiry (a grant's approved_until, a cached
// allow's maxStale) is never honoured late because the skew estimate was
// off.
func (c *Client) fallbackNow() time.Time {
	return c.now().Add(time.Duration(c.slack.Load()))
}

// learnSkew updates the clock offset from a decision's evaluated_at,
// taking the PDP's reading to be from the middle of the round trip.
func (c *Client) learnSkew(ctx json.RawMessage, sent, received time.Time) {
	at := evaluatedAt(ctx)
	if at.IsZero() {
		return
	}
	rtt := received.Sub(sent)
	mid := sent.Add(rtt / 2)
	precision := time.Millisecond
	if at.Nanosecond() == 0 {
		precision = time.Second // a PDP that sends whole seconds
	}
	c.skew.Store(int64(at.Sub(mid)))
	c.slack.Store(int64(rtt/2 + precision))
}

// ClockSkew is the PDP's clock minus this client's, as last observed.
func (c *Client) ClockSkew() time.Duration { return time.Duration(c.skew.Load()) }

// Close stops background work and keeps the queue on disk if configured.
func (c *Client) Close() error { return c.queue.close() }

func reasonOf(ctx json.RawMessage) string {
	var v struct {
		Reason string `json:"reason"`
	}
	_ = json.Unmarshal(ctx, &v)
	return v.Reason
}

func evaluatedAt(ctx json.RawMessage) time.Time {
	var v struct {
		EvaluatedAt time.Time `json:"evaluated_at"`
	}
	_ = json.Unmarshal(ctx, &v)
	return v.EvaluatedAt
}

// approvedUntil returns context.approval.approved_until, if the allow came
// from a grant.
func approvedUntil(ctx json.RawMessage) time.Time {
	var v struct {
		Approval *struct {
			ApprovedUntil time.Time `json:"approved_until"`
		} `json:"approval"`
	}
	if json.Unmarshal(ctx, &v) != nil || v.Approval == nil {
		return time.Time{}
	}
	return v.Approval.ApprovedUntil
}
