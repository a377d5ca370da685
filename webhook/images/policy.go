package images

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io/fs"
	"path"
	"regexp"
	"strconv"
	"strings"

	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// ErrInvalidPolicy is wrapped by every error about the content of
// admission/images.yaml.
var ErrInvalidPolicy = errors.New("invalid image policy")

// Policy is a compiled admission/images.yaml. It is immutable and safe for
// concurrent use.
type Policy struct {
	unmatched Action
	rules     []*rule
	revision  string
}

// rule is one compiled PolicySpec.
type rule struct {
	name        string
	globs       []*regexp.Regexp
	patterns    []string
	authorities []*authority
	mode        Mode
	onError     Action
	// provenance lists the required provenance keys; nil when not checked.
	provenance     []string
	provenanceMode Mode
	// revision identifies the rule's content; verdicts are cached under it.
	revision string
}

// authority is one compiled AuthoritySpec.
type authority struct {
	name string
	// key is set for inline and file keys.
	key crypto.PublicKey
	// secret is set for keys read from a Secret.
	secret *SecretRef
	// keyless is set for keyless identities.
	keyless *KeylessSpec
	// bv verifies Sigstore bundles; nil for Secret keys (built per key).
	bv *bundleVerifier
}

// Load reads and compiles admission/images.yaml from a bundle file system.
// It returns nil and no error when the bundle has no image policy. Files it
// references (keys, trusted root) are read from admission/.
func Load(fsys fs.FS) (*Policy, error) {
	data, err := fs.ReadFile(fsys, PolicyFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return Parse(data, func(name string) ([]byte, error) {
		if !fs.ValidPath(name) || strings.HasPrefix(name, "..") {
			return nil, fmt.Errorf("%q: not a path inside the bundle", name)
		}
		return fs.ReadFile(fsys, path.Join(path.Dir(PolicyFile), name))
	})
}

// Parse compiles an images.yaml document. readFile reads a file named
// relative to admission/ (keys, trusted root); nil refuses file references.
// Unknown fields are errors.
func Parse(data []byte, readFile func(name string) ([]byte, error)) (*Policy, error) {
	if readFile == nil {
		readFile = func(name string) ([]byte, error) {
			return nil, fmt.Errorf("%q: file references are not available here", name)
		}
	}
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidPolicy, err)
	}
	var f File
	strict, err := sigsjson.UnmarshalStrict(js, &f)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidPolicy, err)
	}
	if len(strict) > 0 {
		return nil, fmt.Errorf("%w: %w", ErrInvalidPolicy, errors.Join(strict...))
	}
	h := sha256.New()
	_, _ = h.Write(data)
	p, err := compile(&f, readFile, h)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidPolicy, err)
	}
	p.revision = hex.EncodeToString(h.Sum(nil))[:16]
	for _, r := range p.rules {
		// A rule's revision covers the whole file, the key files and the
		// trusted root, so any change invalidates cached verdicts.
		r.revision = p.revision + "/" + r.name
	}
	return p, nil
}

func compile(f *File, readFile func(string) ([]byte, error), h hash.Hash) (*Policy, error) {
	switch {
	case f.APIVersion != "" && f.APIVersion != PolicyAPIVersion:
		return nil, fmt.Errorf("apiVersion %q: want %s", f.APIVersion, PolicyAPIVersion)
	case f.Kind != "" && f.Kind != PolicyKind:
		return nil, fmt.Errorf("kind %q: want %s", f.Kind, PolicyKind)
	}
	p := &Policy{unmatched: f.Unmatched}
	switch p.unmatched {
	case "":
		p.unmatched = ActionDeny
	case ActionDeny, ActionWarn, ActionAllow:
	default:
		return nil, fmt.Errorf("unmatched %q: want deny, warn or allow", f.Unmatched)
	}
	var trusted root.TrustedMaterial
	if f.TrustedRoot != "" {
		raw, err := readFile(f.TrustedRoot)
		if err != nil {
			return nil, fmt.Errorf("trustedRoot: %w", err)
		}
		_, _ = h.Write(raw) // a hash.Hash never fails to write
		tr, err := root.NewTrustedRootFromJSON(raw)
		if err != nil {
			return nil, fmt.Errorf("trustedRoot %q: %w", f.TrustedRoot, err)
		}
		trusted = tr
	}
	seen := map[string]bool{}
	for i := range f.Policies {
		ps := &f.Policies[i]
		r, err := compileRule(ps, trusted, readFile)
		if err != nil {
			name := ps.Name
			if name == "" {
				name = "#" + strconv.Itoa(i+1)
			}
			return nil, fmt.Errorf("policy %s: %w", name, err)
		}
		if seen[r.name] {
			return nil, fmt.Errorf("policy %s: duplicate name", r.name)
		}
		seen[r.name] = true
		p.rules = append(p.rules, r)
	}
	return p, nil
}

func compileRule(ps *PolicySpec, trusted root.TrustedMaterial, readFile func(string) ([]byte, error)) (*rule, error) {
	if ps.Name == "" {
		return nil, errors.New("name is required")
	}
	r := &rule{name: ps.Name, mode: ps.Mode, onError: ps.OnRegistryError, patterns: ps.Images}
	switch r.mode {
	case "":
		r.mode = ModeEnforce
	case ModeEnforce, ModeWarn:
	default:
		return nil, fmt.Errorf("mode %q: want enforce or warn", ps.Mode)
	}
	switch r.onError {
	case "":
		r.onError = ActionDeny
	case ActionDeny, ActionWarn:
	default:
		return nil, fmt.Errorf("onRegistryError %q: want deny or warn", ps.OnRegistryError)
	}
	if pv := ps.Provenance; pv != nil {
		r.provenance = pv.Required
		if len(r.provenance) == 0 {
			r.provenance = DefaultProvenance
		}
		for _, k := range r.provenance {
			if strings.TrimSpace(k) == "" {
				return nil, errors.New("provenance.required: empty key")
			}
		}
		switch r.provenanceMode = pv.Mode; r.provenanceMode {
		case "":
			r.provenanceMode = ModeWarn
		case ModeEnforce, ModeWarn:
		default:
			return nil, fmt.Errorf("provenance.mode %q: want enforce or warn", pv.Mode)
		}
	}
	if len(ps.Images) == 0 {
		return nil, errors.New("images: at least one pattern is required")
	}
	for _, g := range ps.Images {
		re, err := compileGlob(g)
		if err != nil {
			return nil, fmt.Errorf("images %q: %w", g, err)
		}
		r.globs = append(r.globs, re)
	}
	if len(ps.Authorities) == 0 {
		return nil, errors.New("authorities: at least one is required")
	}
	for i := range ps.Authorities {
		as := &ps.Authorities[i]
		a, err := compileAuthority(as, trusted, readFile)
		name := as.Name
		if name == "" {
			name = "authority-" + strconv.Itoa(i+1)
		}
		if err != nil {
			return nil, fmt.Errorf("authority %s: %w", name, err)
		}
		a.name = name
		r.authorities = append(r.authorities, a)
	}
	return r, nil
}

func compileAuthority(as *AuthoritySpec, trusted root.TrustedMaterial, readFile func(string) ([]byte, error)) (*authority, error) {
	if (as.Key == nil) == (as.Keyless == nil) {
		return nil, errors.New("exactly one of key and keyless is required")
	}
	a := &authority{}
	if k := as.Key; k != nil {
		n := 0
		for _, set := range []bool{k.PEM != "", k.File != "", k.SecretRef != nil} {
			if set {
				n++
			}
		}
		if n != 1 {
			return nil, errors.New("key: exactly one of pem, file and secretRef is required")
		}
		switch {
		case k.SecretRef != nil:
			ref := *k.SecretRef
			if ref.Namespace == "" || ref.Name == "" {
				return nil, errors.New("key.secretRef: namespace and name are required")
			}
			if ref.Key == "" {
				ref.Key = "cosign.pub"
			}
			a.secret = &ref
			return a, nil
		case k.File != "":
			raw, err := readFile(k.File)
			if err != nil {
				return nil, fmt.Errorf("key.file: %w", err)
			}
			if a.key, err = ParsePublicKey(raw); err != nil {
				return nil, fmt.Errorf("key.file %q: %w", k.File, err)
			}
		default:
			var err error
			if a.key, err = ParsePublicKey([]byte(k.PEM)); err != nil {
				return nil, fmt.Errorf("key.pem: %w", err)
			}
		}
		var err error
		if a.bv, err = newKeyBundleVerifier(a.key); err != nil {
			return nil, fmt.Errorf("key: %w", err)
		}
		return a, nil
	}
	kl := as.Keyless
	if (kl.Subject == "") == (kl.SubjectRegExp == "") {
		return nil, errors.New("keyless: exactly one of subject and subjectRegExp is required")
	}
	if (kl.Issuer == "") == (kl.IssuerRegExp == "") {
		return nil, errors.New("keyless: exactly one of issuer and issuerRegExp is required")
	}
	for _, re := range []string{kl.SubjectRegExp, kl.IssuerRegExp} {
		if _, err := regexp.Compile(re); err != nil {
			return nil, fmt.Errorf("keyless: %w", err)
		}
	}
	if trusted == nil {
		return nil, errors.New("keyless: the file needs trustedRoot (a Sigstore trusted_root.json in the bundle)")
	}
	a.keyless = kl
	var err error
	if a.bv, err = newKeylessBundleVerifier(kl, trusted); err != nil {
		return nil, fmt.Errorf("keyless: %w", err)
	}
	return a, nil
}

// ParsePublicKey parses a PEM public key (ECDSA, Ed25519 or RSA of at least
// 2048 bits).
func ParsePublicKey(pemBytes []byte) (crypto.PublicKey, error) {
	pemBytes = bytes.TrimSpace(pemBytes)
	k, err := cryptoutils.UnmarshalPEMToPublicKey(pemBytes)
	if err != nil {
		return nil, err
	}
	switch k := k.(type) {
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() && k.Curve != elliptic.P384() && k.Curve != elliptic.P521() {
			return nil, errors.New("ECDSA key: want curve P-256, P-384 or P-521")
		}
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return nil, fmt.Errorf("RSA key of %d bits: want at least 2048", k.N.BitLen())
		}
	case ed25519.PublicKey:
	default:
		return nil, fmt.Errorf("key type %T: want ECDSA, Ed25519 or RSA", k)
	}
	return k, nil
}

// compileGlob turns an image glob into an anchored regular expression: "**"
// matches anything, "*" anything but "/", "?" one character but "/".
func compileGlob(g string) (*regexp.Regexp, error) {
	if g == "" {
		return nil, errors.New("empty pattern")
	}
	if strings.ContainsAny(g, "@") {
		return nil, errors.New("patterns match repositories; leave out the tag and digest")
	}
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(g); i++ {
		switch c := g[i]; c {
		case '*':
			if i+1 < len(g) && g[i+1] == '*' {
				b.WriteString(".*")
				i++
			} else {
				b.WriteString("[^/]*")
			}
		case '?':
			b.WriteString("[^/]")
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	return regexp.Compile(b.String())
}

// Revision identifies the policy's content (a hash of images.yaml and the
// files it references).
func (p *Policy) Revision() string { return p.revision }

// Unmatched is what happens to images no policy matches.
func (p *Policy) Unmatched() Action { return p.unmatched }

// Names returns the policies' names in order.
func (p *Policy) Names() []string {
	out := make([]string, len(p.rules))
	for i, r := range p.rules {
		out[i] = r.name
	}
	return out
}

// match returns the rules whose patterns match the repository.
func (p *Policy) match(repo string) []*rule {
	var out []*rule
	for _, r := range p.rules {
		for _, g := range r.globs {
			if g.MatchString(repo) {
				out = append(out, r)
				break
			}
		}
	}
	return out
}
