package certrotator

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Defaults of Options.
const (
	DefaultCAValidity    = 5 * 365 * 24 * time.Hour
	DefaultCertValidity  = 365 * 24 * time.Hour
	DefaultCheckInterval = time.Minute
)

// Options configures a Rotator.
type Options struct {
	// Client talks to the API server. Required.
	Client kubernetes.Interface
	// Namespace holds the Secret and the webhook Service. Required.
	Namespace string
	// SecretName is the Secret holding the CA and the serving certificate.
	// Required. It must exist (the Helm chart creates it empty): the
	// rotator only reads and updates it, so it needs get and update on one
	// name, and cannot leave a Secret behind after an uninstall.
	SecretName string
	// Service is the webhook Service; the certificate names
	// <svc>, <svc>.<ns>, <svc>.<ns>.svc and <svc>.<ns>.svc.cluster.local.
	// Required.
	Service string
	// WebhookConfigs are the names of the Validating- and
	// MutatingWebhookConfigurations whose webhooks pointing at Service get
	// the CA bundle. A name missing for a kind is skipped, never created.
	WebhookConfigs []string
	// CertDir receives tls.crt, tls.key and ca.crt. Required.
	CertDir string
	// CAValidity is the lifetime of a new CA. Default DefaultCAValidity.
	CAValidity time.Duration
	// CertValidity is the lifetime of a new serving certificate (never past
	// the CA's). Default DefaultCertValidity.
	CertValidity time.Duration
	// CheckInterval is how often Run checks the Secret, the files and the
	// webhook configurations. Default DefaultCheckInterval.
	CheckInterval time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// OnError receives the error of a failed pass of Run (the next pass
	// retries). Default: ignored.
	OnError func(error)
	// OnRotate is called after the Secret was (re)written: caRotated tells
	// whether a new CA was made. Default: ignored.
	OnRotate func(caRotated bool)
}

// A certificate is renewed when less than a third of its lifetime is left,
// as cert-manager does by default.
func renewBefore(validity time.Duration) time.Duration { return validity / 3 }

func (o *Options) setDefaults() {
	if o.CAValidity <= 0 {
		o.CAValidity = DefaultCAValidity
	}
	if o.CertValidity <= 0 {
		o.CertValidity = DefaultCertValidity
	}
	if o.CheckInterval <= 0 {
		o.CheckInterval = DefaultCheckInterval
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.OnError == nil {
		o.OnError = func(error) {}
	}
	if o.OnRotate == nil {
		o.OnRotate = func(bool) {}
	}
}

// Rotator keeps the webhook's TLS material current. Every replica of the
// webhook runs one; they agree through the Secret's resourceVersion.
type Rotator struct {
	opts  Options
	hosts []string
}

// New validates opts and returns a Rotator.
func New(opts Options) (*Rotator, error) {
	opts.setDefaults()
	switch {
	case opts.Client == nil:
		return nil, errors.New("certrotator: Client is required")
	case opts.Namespace == "":
		return nil, errors.New("certrotator: Namespace is required")
	case opts.SecretName == "":
		return nil, errors.New("certrotator: SecretName is required")
	case opts.Service == "":
		return nil, errors.New("certrotator: Service is required")
	case opts.CertDir == "":
		return nil, errors.New("certrotator: CertDir is required")
	case opts.CertValidity > opts.CAValidity:
		return nil, errors.New("certrotator: CertValidity exceeds CAValidity")
	}
	s, ns := opts.Service, opts.Namespace
	return &Rotator{opts: opts, hosts: []string{
		s + "." + ns + ".svc", s, s + "." + ns, s + "." + ns + ".svc.cluster.local",
	}}, nil
}

// Hosts returns the DNS names of the serving certificate.
func (r *Rotator) Hosts() []string { return r.hosts }

// Run calls Sync every CheckInterval until ctx ends, reporting failures to
// OnError. Call Sync once first so the certificate files exist before the
// server starts.
func (r *Rotator) Run(ctx context.Context) error {
	t := time.NewTicker(r.opts.CheckInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			if err := r.Sync(ctx); err != nil {
				r.opts.OnError(err)
			}
		}
	}
}

// Sync makes one pass: renew what needs renewing in the Secret, write the
// files, inject the CA bundle.
func (r *Rotator) Sync(ctx context.Context) error {
	m, err := r.ensureSecret(ctx)
	if err != nil {
		return err
	}
	if err := r.writeFiles(m); err != nil {
		return err
	}
	return r.injectCABundle(ctx, m.caBundle(r.opts.Now()))
}

func (r *Rotator) ensureSecret(ctx context.Context) (*material, error) {
	secrets := r.opts.Client.CoreV1().Secrets(r.opts.Namespace)
	sec, err := secrets.Get(ctx, r.opts.SecretName, metav1.GetOptions{})
	if err != nil {
		if apierrors.IsNotFound(err) {
			err = fmt.Errorf("%w (create it empty: kubectl -n %s create secret generic %s)", err, r.opts.Namespace, r.opts.SecretName)
		}
		return nil, fmt.Errorf("get secret %s/%s: %w", r.opts.Namespace, r.opts.SecretName, err)
	}
	var m material
	m.fromData(sec.Data)
	now := r.opts.Now()
	caRotated := false
	if !m.validCA(now, renewBefore(r.opts.CAValidity)) {
		prev := m.caCert
		if c, err := parseCert(prev); err != nil || !now.Before(c.NotAfter) {
			prev = nil
		}
		if m.caCert, m.caKey, err = newCA(now, r.opts.CAValidity, r.opts.Service+"."+r.opts.Namespace+" webhook CA"); err != nil {
			return nil, fmt.Errorf("new CA: %w", err)
		}
		m.previousCA, m.cert, caRotated = prev, nil, true
	}
	if !caRotated && m.validCert(now, renewBefore(r.opts.CertValidity), r.hosts) {
		return &m, nil
	}
	if m.cert, m.key, err = newServing(&m, now, r.opts.CertValidity, r.hosts); err != nil {
		return nil, fmt.Errorf("new serving certificate: %w", err)
	}
	if sec.Data == nil {
		sec.Data = map[string][]byte{}
	}
	m.toData(sec.Data)
	// A concurrent writer (another replica) makes this fail with a
	// conflict; the next pass reads what it wrote.
	if _, err := secrets.Update(ctx, sec, metav1.UpdateOptions{FieldManager: "agentguard"}); err != nil {
		return nil, fmt.Errorf("write secret %s/%s: %w", r.opts.Namespace, r.opts.SecretName, err)
	}
	r.opts.OnRotate(caRotated)
	return &m, nil
}

// writeFiles writes the files that changed, each by rename so the server's
// certificate watcher never reads half a file. The key goes before the
// certificate: the watcher reloads on either and retries on a mismatch.
func (r *Rotator) writeFiles(m *material) error {
	if err := os.MkdirAll(r.opts.CertDir, 0o700); err != nil {
		return fmt.Errorf("cert dir: %w", err)
	}
	for _, f := range []struct {
		name string
		data []byte
	}{{keyKey, m.key}, {keyCert, m.cert}, {keyCACert, m.caCert}} {
		path := filepath.Join(r.opts.CertDir, f.name)
		if old, err := os.ReadFile(path); err == nil && equalBytes(old, f.data) {
			continue
		}
		tmp, err := os.CreateTemp(r.opts.CertDir, "."+f.name+"-*")
		if err != nil {
			return fmt.Errorf("write %s: %w", f.name, err)
		}
		_, werr := tmp.Write(f.data)
		cerr := tmp.Close()
		if err := errors.Join(werr, cerr); err != nil {
			_ = os.Remove(tmp.Name())
			return fmt.Errorf("write %s: %w", f.name, err)
		}
		if err := os.Rename(tmp.Name(), path); err != nil {
			_ = os.Remove(tmp.Name())
			return fmt.Errorf("write %s: %w", f.name, err)
		}
	}
	return nil
}

func (r *Rotator) ours(cc *admissionregistrationv1.WebhookClientConfig) bool {
	return cc.Service != nil && cc.Service.Name == r.opts.Service && cc.Service.Namespace == r.opts.Namespace
}

// injectCABundle sets caBundle on the webhooks that call our Service. It
// only updates configurations that exist.
func (r *Rotator) injectCABundle(ctx context.Context, bundle []byte) error {
	ar := r.opts.Client.AdmissionregistrationV1()
	var errs []error
	for _, name := range r.opts.WebhookConfigs {
		v, err := ar.ValidatingWebhookConfigurations().Get(ctx, name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			errs = append(errs, fmt.Errorf("get validatingwebhookconfiguration %s: %w", name, err))
		default:
			changed := false
			for i := range v.Webhooks {
				if cc := &v.Webhooks[i].ClientConfig; r.ours(cc) && !equalBytes(cc.CABundle, bundle) {
					cc.CABundle, changed = bundle, true
				}
			}
			if changed {
				if _, err := ar.ValidatingWebhookConfigurations().Update(ctx, v, metav1.UpdateOptions{FieldManager: "agentguard"}); err != nil {
					errs = append(errs, fmt.Errorf("update validatingwebhookconfiguration %s: %w", name, err))
				}
			}
		}
		mw, err := ar.MutatingWebhookConfigurations().Get(ctx, name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			errs = append(errs, fmt.Errorf("get mutatingwebhookconfiguration %s: %w", name, err))
		default:
			changed := false
			for i := range mw.Webhooks {
				if cc := &mw.Webhooks[i].ClientConfig; r.ours(cc) && !equalBytes(cc.CABundle, bundle) {
					cc.CABundle, changed = bundle, true
				}
			}
			if changed {
				if _, err := ar.MutatingWebhookConfigurations().Update(ctx, mw, metav1.UpdateOptions{FieldManager: "agentguard"}); err != nil {
					errs = append(errs, fmt.Errorf("update mutatingwebhookconfiguration %s: %w", name, err))
				}
			}
		}
	}
	return errors.Join(errs...)
}
