package bundles

import (
	"bytes"
	"context"
	"crypto"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
)

// Options configures a Manager.
type Options struct {
	// Source is where bundles come from: a directory (watched), a .tar.gz
	// file (watched), an https:// URL (polled with If-None-Match) or an
	// oci:// reference (polled by manifest digest). Required unless
	// Fetcher is set.
	Source string
	// Fetcher overrides Source with a custom Source implementation.
	Fetcher Source
	// SourceOptions configure the source (limits, HTTP client, registry
	// credentials).
	SourceOptions SourceOptions

	// PublicKeys are the keys trusted to sign bundles. Required unless
	// InsecureSkipVerify is set.
	PublicKeys []crypto.PublicKey
	// InsecureSkipVerify activates bundles without checking signatures.
	// For local development only; it cannot be combined with PublicKeys.
	InsecureSkipVerify bool
	// MinRevision refuses bundles whose revision orders before it (see
	// CompareRevisions), against replays of older signed bundles.
	MinRevision string
	// RefuseOlderRevisions refuses a bundle whose revision orders before
	// the active one's (CompareRevisions): once a revision is active,
	// including one loaded from CacheDir, a source can no longer roll the
	// server back by replaying an older signed bundle. Roll back by
	// publishing the old content under a new revision.
	RefuseOlderRevisions bool
	// Version is the running agentguard version, checked against a
	// bundle's minAgentguardVersion. Empty or a non-release version
	// ("dev") accepts every bundle.
	Version string

	// Activate is called with each new verified bundle, one call at a
	// time. It builds the engines and switches to them atomically; if it
	// returns an error the bundle is refused and the previous one stays
	// active. Required.
	Activate func(context.Context, *Bundle) error

	// CacheDir, when set, is where the last activated bundle is persisted
	// (written to a temporary file and renamed) and loaded from at start,
	// before the first fetch, so that a restart while the source is down
	// still serves the last-known-good bundle. Created if missing.
	CacheDir string

	// PollInterval is the time between fetches while the source works
	// (±10% jitter). Directory and file sources are also watched, so
	// their changes apply within a fraction of a second. Default 30s.
	PollInterval time.Duration
	// MinBackoff and MaxBackoff bound the exponential backoff (with
	// jitter) after failed fetches. Defaults 1s and 5m (at most
	// PollInterval when that is longer than MinBackoff).
	MinBackoff, MaxBackoff time.Duration
	// FetchTimeout bounds one fetch, so that a source that hangs counts
	// as a failure. Default 30s.
	FetchTimeout time.Duration

	// Observe, when set, is called after every activation and every
	// failure, e.g. to log them (the Manager itself does not log). It is
	// called synchronously and must not block.
	Observe func(Event)

	// MeterProvider receives the bundle metrics. Default: no metrics.
	MeterProvider metric.MeterProvider
	// Now is the clock for status times. Default time.Now.
	Now func() time.Time
}

func (o *Options) setDefaults() {
	if o.PollInterval <= 0 {
		o.PollInterval = 30 * time.Second
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = max(min(5*time.Minute, o.PollInterval), o.MinBackoff)
	}
	if o.FetchTimeout <= 0 {
		o.FetchTimeout = 30 * time.Second
	}
	if o.MeterProvider == nil {
		o.MeterProvider = noop.NewMeterProvider()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Status is what a Manager reports about its bundle, e.g. for
// GET /v1/status.
type Status struct {
	// Source is the configured source.
	Source string `json:"source"`
	// Active is true once a bundle is active (readiness).
	Active bool `json:"active"`
	// Name, Revision, Digest and Signer describe the active bundle.
	// Signer is empty when verification is skipped.
	Name     string `json:"name,omitempty"`
	Revision string `json:"revision,omitempty"`
	Digest   string `json:"digest,omitempty"`
	Signer   string `json:"signer,omitempty"`
	// Verified is false when the active bundle was not signature-checked
	// (InsecureSkipVerify).
	Verified bool `json:"verified"`
	// ActiveSource is where the active bundle came from: the source, or
	// the last-known-good file in CacheDir.
	ActiveSource string `json:"activeSource,omitempty"`
	// ActivatedAt is when the active bundle was activated.
	ActivatedAt time.Time `json:"activatedAt,omitzero"`
	// LastSuccess is the last time the source was read and its bundle was
	// (or already was) the active one.
	LastSuccess time.Time `json:"lastSuccess,omitzero"`
	// LastError and LastErrorAt describe the most recent failure; they
	// are kept after later successes so that the last refusal stays
	// visible. ConsecutiveFailures is reset by a success.
	LastError           string    `json:"lastError,omitempty"`
	LastErrorAt         time.Time `json:"lastErrorAt,omitzero"`
	ConsecutiveFailures int       `json:"consecutiveFailures"`
}

// Event is an activation (Reason "") or a failure, passed to
// Options.Observe.
type Event struct {
	Time time.Time
	// Reason is "" for an activation, else one of the Reason constants.
	Reason string
	// Name, Revision, Signer and Source describe the activated bundle.
	Name, Revision, Signer, Source string
	// Err is the failure.
	Err error
}

// ErrIncompatible is returned (wrapped) for bundles that need a newer
// agentguard than the running one.
var ErrIncompatible = errors.New("bundle needs a newer agentguard")

// Manager keeps the newest good bundle from a source active: it fetches,
// verifies and activates bundles, persists the last-known-good one, and
// reports status and metrics. Create it with NewManager and call Run.
type Manager struct {
	opts     Options
	src      Source
	verifier *Verifier
	metrics  *metrics
	ready    chan struct{}

	// runMu serializes fetch/activate cycles (Run, Sync).
	runMu   sync.Mutex
	version string // source version of the active bundle

	mu     sync.Mutex
	status Status
	active *Bundle
}

// cacheFile is the last-known-good bundle inside CacheDir.
const cacheFile = "last-known-good.tar.gz"

// NewManager checks opts and opens the source. It does not fetch.
func NewManager(opts Options) (*Manager, error) {
	opts.setDefaults()
	if opts.Activate == nil {
		return nil, errors.New("bundle manager: Activate is required")
	}
	switch {
	case opts.InsecureSkipVerify && len(opts.PublicKeys) > 0:
		return nil, errors.New("bundle manager: public keys given with InsecureSkipVerify; choose one")
	case !opts.InsecureSkipVerify && len(opts.PublicKeys) == 0:
		return nil, errors.New("bundle manager: no public key to verify bundles with (or set InsecureSkipVerify for development)")
	}
	m := &Manager{opts: opts, src: opts.Fetcher, ready: make(chan struct{})}
	if m.src == nil {
		if opts.Source == "" {
			return nil, errors.New("bundle manager: no source given")
		}
		src, err := OpenSource(opts.Source, opts.SourceOptions)
		if err != nil {
			return nil, fmt.Errorf("bundle manager: %w", err)
		}
		m.src = src
	}
	if !opts.InsecureSkipVerify {
		v, err := NewVerifier(VerifyOptions{PublicKeys: opts.PublicKeys, MinRevision: opts.MinRevision})
		if err != nil {
			return nil, fmt.Errorf("bundle manager: %w", err)
		}
		m.verifier = v
	}
	m.status.Source = m.src.String()
	met, err := newMetrics(opts.MeterProvider, m)
	if err != nil {
		return nil, fmt.Errorf("bundle manager: metrics: %w", err)
	}
	m.metrics = met
	return m, nil
}

// Status returns a snapshot of the manager's status.
func (m *Manager) Status() Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.status
}

// Active returns the active bundle, or nil before the first activation.
func (m *Manager) Active() *Bundle {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.active
}

// Ready is closed when the first bundle is active.
func (m *Manager) Ready() <-chan struct{} { return m.ready }

// Run loads the last-known-good bundle (if CacheDir holds one), then
// fetches from the source until ctx ends: at once, then every
// PollInterval (with jitter), on file system changes for directory and
// file sources, and with exponential backoff after failures. It returns
// nil when ctx ends. Failures never stop it; they are in Status and the
// metrics.
func (m *Manager) Run(ctx context.Context) error {
	m.LoadLastKnownGood(ctx)
	var changes <-chan struct{}
	if w, ok := m.src.(Watcher); ok {
		ch, err := w.Watch(ctx)
		if err != nil {
			// Polling still works; the error is visible until a success.
			_ = m.fail(ctx, ReasonFetch, fmt.Errorf("watch %s: %w (falling back to polling)", m.src, err))
		}
		changes = ch
	}
	failures := 0
	for {
		delay := jitter(m.opts.PollInterval, 0.1)
		if err := m.Sync(ctx); err != nil {
			failures++
			delay = m.backoff(failures)
		} else {
			failures = 0
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		case <-changes:
			t.Stop()
		}
	}
}

// backoff is MinBackoff·2^(n-1), at most MaxBackoff, with "equal jitter"
// (between half and all of it), so that replicas do not retry in step.
func (m *Manager) backoff(n int) time.Duration {
	d := m.opts.MinBackoff
	for i := 1; i < n && d < m.opts.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, m.opts.MaxBackoff)
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1)) //nolint:gosec // jitter, not a secret
}

func jitter(d time.Duration, frac float64) time.Duration {
	return d + time.Duration((rand.Float64()*2-1)*frac*float64(d)) //nolint:gosec // jitter, not a secret
}

// Sync fetches from the source once and activates what it finds if it is
// new and good. It returns the failure, if any (also recorded in Status).
// Run calls it; tests and one-shot tools may call it directly.
func (m *Manager) Sync(ctx context.Context) error {
	m.runMu.Lock()
	defer m.runMu.Unlock()
	fctx, cancel := context.WithTimeout(ctx, m.opts.FetchTimeout)
	f, err := m.src.Fetch(fctx, m.version)
	cancel()
	switch {
	case errors.Is(err, ErrNotModified) && m.Active() != nil:
		m.succeed()
		return nil
	case errors.Is(err, ErrNotModified):
		// Versions are only kept for active bundles; a source that
		// answers "unchanged" to an unconditional fetch is broken.
		return m.fail(ctx, ReasonFetch, fmt.Errorf("fetch bundle %s: %w, but no bundle is active", m.src, err))
	case err != nil && ctx.Err() != nil:
		// Shutting down is not a failure of the source.
		return ctx.Err()
	case err != nil:
		return m.fail(ctx, ReasonFetch, err)
	}
	if cur := m.Active(); cur != nil && cur.Digest() == f.Bundle.Digest() && sameSignature(cur, f.Bundle) {
		// E.g. the first fetch after loading the last-known-good copy.
		m.version = f.Version
		m.succeed()
		return nil
	}
	if err := m.activate(ctx, f.Bundle, false); err != nil {
		return err
	}
	m.version = f.Version
	m.persist(ctx)
	m.succeed()
	return nil
}

func sameSignature(a, b *Bundle) bool {
	return bytes.Equal(a.files[SignaturesFile], b.files[SignaturesFile])
}

// LoadLastKnownGood activates the bundle persisted in CacheDir, if any,
// after verifying it again with the current keys. Run calls it first.
func (m *Manager) LoadLastKnownGood(ctx context.Context) {
	if m.opts.CacheDir == "" {
		return
	}
	path := filepath.Join(m.opts.CacheDir, cacheFile)
	b, err := Read(path, m.opts.SourceOptions.Limits)
	if errors.Is(err, os.ErrNotExist) {
		return
	}
	if err != nil {
		_ = m.fail(ctx, ReasonCache, fmt.Errorf("last-known-good bundle: %w", err))
		return
	}
	_ = m.activate(ctx, b, true)
}

// activate verifies and activates b; fromCache marks the last-known-good
// copy. Failures are recorded and returned.
func (m *Manager) activate(ctx context.Context, b *Bundle, fromCache bool) error {
	what := "bundle from " + m.src.String()
	if fromCache {
		what = "last-known-good bundle " + b.Source
	}
	if m.verifier != nil {
		vb, err := m.verifier.Verify(b)
		if err != nil {
			return m.fail(ctx, ReasonVerify, fmt.Errorf("refused %s (%s@%s): %w", what, b.Name(), b.Revision(), err))
		}
		b = vb
	}
	if cur := m.Active(); m.opts.RefuseOlderRevisions && cur != nil && CompareRevisions(b.Revision(), cur.Revision()) < 0 {
		return m.fail(ctx, ReasonVerify, fmt.Errorf("refused %s (%s@%s): %w: revision %s is active",
			what, b.Name(), b.Revision(), ErrRevisionTooOld, cur.Revision()))
	}
	if !versionAtLeast(m.opts.Version, b.Manifest.MinAgentguardVersion) {
		return m.fail(ctx, ReasonVersion, fmt.Errorf("refused %s (%s@%s): %w: needs %s, running %s",
			what, b.Name(), b.Revision(), ErrIncompatible, b.Manifest.MinAgentguardVersion, m.opts.Version))
	}
	if err := m.opts.Activate(ctx, b); err != nil {
		return m.fail(ctx, ReasonActivate, fmt.Errorf("refused %s (%s@%s): %w", what, b.Name(), b.Revision(), err))
	}
	now := m.opts.Now()
	m.mu.Lock()
	m.active = b
	st := &m.status
	st.Active = true
	st.Name, st.Revision, st.Digest, st.Signer = b.Name(), b.Revision(), b.Digest(), b.Signer
	st.Verified = m.verifier != nil
	st.ActiveSource = b.Source
	st.ActivatedAt = now
	m.mu.Unlock()
	m.metrics.activations.Add(ctx, 1)
	if m.opts.Observe != nil {
		m.opts.Observe(Event{Time: now, Name: b.Name(), Revision: b.Revision(), Signer: b.Signer, Source: b.Source})
	}
	select {
	case <-m.ready:
	default:
		close(m.ready)
	}
	return nil
}

// persist writes the active bundle to CacheDir.
func (m *Manager) persist(ctx context.Context) {
	if m.opts.CacheDir == "" {
		return
	}
	b := m.Active()
	data, err := MarshalArchive(b)
	if err == nil {
		err = os.MkdirAll(m.opts.CacheDir, 0o700)
	}
	if err == nil {
		err = writeFileAtomic(filepath.Join(m.opts.CacheDir, cacheFile), data, 0o600)
	}
	if err != nil {
		_ = m.fail(ctx, ReasonPersist, fmt.Errorf("persist last-known-good bundle: %w", err))
	}
}

func (m *Manager) succeed() {
	now := m.opts.Now()
	m.mu.Lock()
	m.status.LastSuccess = now
	m.status.ConsecutiveFailures = 0
	m.mu.Unlock()
}

func (m *Manager) fail(ctx context.Context, reason string, err error) error {
	now := m.opts.Now()
	m.mu.Lock()
	m.status.LastError = err.Error()
	m.status.LastErrorAt = now
	m.status.ConsecutiveFailures++
	m.mu.Unlock()
	m.metrics.fail(ctx, reason)
	if m.opts.Observe != nil {
		m.opts.Observe(Event{Time: now, Reason: reason, Err: err})
	}
	return err
}
