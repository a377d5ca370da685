package authn

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"slices"
	"time"

	"github.com/cedar-policy/cedar-go/types"
	"sigs.k8s.io/yaml"
)

// StaticTokenEntry is one entry of a static token file.
//
//   - sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
//     principal: {type: Agent, id: acme-agents/triage}
//     groups: [acme-approvers]
//     expires: "2026-12-31T00:00:00Z"
type StaticTokenEntry struct {
	// SHA256 is the lower- or upper-case hex SHA-256 of the token (see
	// HashToken). Required.
	SHA256 string `json:"sha256"`
	// Principal is the Cedar entity the token's bearer acts as. Required.
	Principal StaticPrincipal `json:"principal"`
	// Groups of the bearer. Optional.
	Groups []string `json:"groups,omitempty"`
	// Expires ends the token's validity. Optional.
	Expires *time.Time `json:"expires,omitempty"`
	// Description is for people; it is ignored.
	Description string `json:"description,omitempty"`
}

// StaticPrincipal is a Cedar entity UID in a static token file.
type StaticPrincipal struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

// cedarTypeRE matches a Cedar entity type name, e.g. Agent or Acme::User.
var cedarTypeRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(::[A-Za-z_][A-Za-z0-9_]*)*$`)

type staticToken struct {
	hash  [sha256.Size]byte
	entry StaticTokenEntry
}

// StaticTokens authenticates bearer tokens listed, by their SHA-256, in a
// static token file: for standalone runs and development, where there is no
// apiserver to ask. The file never holds the tokens themselves.
type StaticTokens struct {
	tokens []staticToken
	now    func() time.Time
}

var _ Authenticator = (*StaticTokens)(nil)

// LoadStaticTokens reads a static token file (see ParseStaticTokens).
func LoadStaticTokens(path string) (*StaticTokens, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("static tokens: %w", err)
	}
	st, err := ParseStaticTokens(data)
	if err != nil {
		return nil, fmt.Errorf("static tokens %s: %w", path, err)
	}
	return st, nil
}

// ParseStaticTokens parses a static token file: a YAML (or JSON) list of
// StaticTokenEntry, decoded strictly. Every entry needs a 64-digit hex hash
// and a principal; a hash may appear only once.
func ParseStaticTokens(data []byte) (*StaticTokens, error) {
	var entries []StaticTokenEntry
	if err := yaml.UnmarshalStrict(data, &entries); err != nil {
		return nil, fmt.Errorf("want a list of {sha256, principal: {type, id}, groups}: %w", err)
	}
	st := &StaticTokens{now: time.Now}
	seen := map[[sha256.Size]byte]int{}
	var errs []error
	for i, e := range entries {
		var h [sha256.Size]byte
		raw, err := hex.DecodeString(e.SHA256)
		switch {
		case err != nil || len(raw) != sha256.Size:
			errs = append(errs, fmt.Errorf("entry %d: sha256 must be 64 hex digits (the hash of the token, not the token)", i))
			continue
		case e.Principal.Type == "" || e.Principal.ID == "":
			errs = append(errs, fmt.Errorf("entry %d: principal needs a type and an id", i))
			continue
		case !cedarTypeRE.MatchString(e.Principal.Type):
			errs = append(errs, fmt.Errorf("entry %d: principal type %q is not a Cedar entity type", i, e.Principal.Type))
			continue
		}
		copy(h[:], raw)
		if j, dup := seen[h]; dup {
			errs = append(errs, fmt.Errorf("entry %d: same token hash as entry %d", i, j))
			continue
		}
		seen[h] = i
		e.Groups = slices.Clone(e.Groups)
		st.tokens = append(st.tokens, staticToken{hash: h, entry: e})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return st, nil
}

// Len returns the number of tokens.
func (s *StaticTokens) Len() int { return len(s.tokens) }

// Authenticate looks the request's bearer token up by its hash, comparing
// against every entry in constant time.
func (s *StaticTokens) Authenticate(r *http.Request) (*Identity, error) {
	token, err := BearerToken(r)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte(token))
	match := -1
	for i := range s.tokens {
		// No early exit: the time taken does not depend on which entry
		// matched.
		if subtle.ConstantTimeCompare(sum[:], s.tokens[i].hash[:]) == 1 {
			match = i
		}
	}
	if match < 0 {
		return nil, unauthenticated("unknown static token")
	}
	e := s.tokens[match].entry
	if e.Expires != nil && !s.now().Before(*e.Expires) {
		return nil, unauthenticated("static token %s expired at %s", hex.EncodeToString(sum[:6]), e.Expires.Format(time.RFC3339))
	}
	id := &Identity{
		Kind:         KindStatic,
		Principal:    types.NewEntityUID(types.EntityType(e.Principal.Type), types.String(e.Principal.ID)),
		Username:     e.Principal.ID,
		Groups:       slices.Clone(e.Groups),
		CredentialID: hex.EncodeToString(sum[:6]),
	}
	if e.Expires != nil {
		id.Expiry = *e.Expires
	}
	if id.Principal.Type == AgentType {
		if ns, sa, ok := splitAgentID(e.Principal.ID); ok {
			id.Namespace, id.ServiceAccount = ns, sa
		}
	}
	return id, nil
}

// HashToken returns the lower-case hex SHA-256 of token, the form a static
// token file stores.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// NewToken returns a fresh random bearer token (256 bits, base64url, with an
// "agt_" prefix so that secret scanners can spot it).
func NewToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("new token: %w", err)
	}
	return "agt_" + base64.RawURLEncoding.EncodeToString(b), nil
}
