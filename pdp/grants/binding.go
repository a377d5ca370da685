package grants

import (
	"crypto"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/agentguard/agentguard/pdp"
)

// bindingClaims bind a requestable denial to the evaluation it came from
// (ARAP §Binding Token Integrity): who, what, on what, in which context,
// which declaration, until when.
type bindingClaims struct {
	jwt.Claims
	EvaluationID string `json:"evaluation_id"`
	Subject      string `json:"subj"`
	Action       string `json:"act_name"`
	Resource     string `json:"res"`
	ContextHash  string `json:"ctx"`
	Grantable    string `json:"grantable"`
}

// Signer signs and verifies binding tokens with the PDP's key.
type Signer struct {
	key    ed25519.PrivateKey
	keyID  string
	issuer string
	signer jose.Signer
}

// NewSigner returns a binding-token signer for the PDP named issuer.
func NewSigner(key ed25519.PrivateKey, keyID, issuer string) (*Signer, error) {
	if len(key) != ed25519.PrivateKeySize {
		return nil, errors.New("binding token key: want an Ed25519 private key")
	}
	opts := (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", keyID)
	sg, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: key}, opts)
	if err != nil {
		return nil, err
	}
	return &Signer{key: key, keyID: keyID, issuer: issuer, signer: sg}, nil
}

// JWKS is the public key set verifiers use (ARAP §Discovery, jwks_uri).
func (s *Signer) JWKS() jose.JSONWebKeySet {
	return jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{
		Key: s.key.Public(), KeyID: s.keyID, Algorithm: string(jose.EdDSA), Use: "sig",
	}}}
}

func entityKey(e pdp.Entity) string { return e.Type + ":" + e.ID }

// BindingContext lists the context members a grant is bound to: the task,
// the session and the user an agent acts for. A submission may add other
// members (a justification); these three must equal the denied
// evaluation's.
var BindingContext = []string{"task", "session", "user"}

// contextHash digests the binding members of an AuthZEN context.
func contextHash(raw json.RawMessage) (string, error) {
	var all map[string]any
	if len(raw) > 0 && string(raw) != "null" {
		if err := json.Unmarshal(raw, &all); err != nil {
			return "", fmt.Errorf("must be a JSON object: %w", err)
		}
	}
	bound := map[string]any{}
	for _, k := range BindingContext {
		if v, ok := all[k]; ok {
			bound[k] = v
		}
	}
	canon, err := json.Marshal(bound) // encoding/json sorts map keys
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(canon)
	return hex.EncodeToString(sum[:]), nil
}

func (s *Signer) sign(r *pdp.Request, evalID, grantable string, now, exp time.Time) (string, error) {
	ch, err := contextHash(r.Context)
	if err != nil {
		return "", err
	}
	c := bindingClaims{
		Claims: jwt.Claims{
			Issuer: s.issuer, Audience: jwt.Audience{s.issuer},
			IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(exp),
		},
		EvaluationID: evalID,
		Subject:      entityKey(r.Subject),
		Action:       r.Action.Name,
		Resource:     entityKey(r.Resource),
		ContextHash:  ch,
		Grantable:    grantable,
	}
	return jwt.Signed(s.signer).Claims(c).Serialize()
}

// verify checks a binding token against a submission and returns its
// claims: signature, issuer, expiry (with no skew allowance) and that the
// submission is the evaluation the token was issued for.
func (s *Signer) verify(token string, sub *Submission, now time.Time) (*bindingClaims, error) {
	tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil {
		return nil, problem(ProblemInvalidBinding, http.StatusBadRequest, "Invalid denial binding", "binding_token is not a signed token: %v", err)
	}
	var c bindingClaims
	if err := tok.Claims(s.key.Public(), &c); err != nil {
		return nil, problem(ProblemInvalidBinding, http.StatusBadRequest, "Invalid denial binding", "binding_token signature does not verify")
	}
	if err := c.ValidateWithLeeway(jwt.Expected{Issuer: s.issuer, AnyAudience: jwt.Audience{s.issuer}, Time: now}, 0); err != nil {
		if errors.Is(err, jwt.ErrExpired) {
			return nil, problem(ProblemExpiredDenial, http.StatusGone, "Denial expired", "the requestable denial expired at %s", c.Expiry.Time().UTC().Format(time.RFC3339))
		}
		return nil, problem(ProblemInvalidBinding, http.StatusBadRequest, "Invalid denial binding", "binding_token: %v", err)
	}
	ch, err := contextHash(sub.Context)
	if err != nil {
		return nil, badSubmission("context: %v", err)
	}
	switch {
	case c.Subject != entityKey(sub.Subject):
		return nil, problem(ProblemInvalidBinding, http.StatusBadRequest, "Invalid denial binding", "subject %s is not the denied subject", entityKey(sub.Subject))
	case c.Action != sub.Action.Name:
		return nil, problem(ProblemInvalidBinding, http.StatusBadRequest, "Invalid denial binding", "action %q is not the denied action", sub.Action.Name)
	case c.Resource != entityKey(sub.Resource):
		return nil, problem(ProblemInvalidBinding, http.StatusBadRequest, "Invalid denial binding", "resource %s is not the denied resource", entityKey(sub.Resource))
	case c.ContextHash != ch:
		return nil, problem(ProblemInvalidBinding, http.StatusBadRequest, "Invalid denial binding", "context differs from the denied evaluation's")
	case sub.Denial.EvaluationID != "" && sub.Denial.EvaluationID != c.EvaluationID:
		return nil, problem(ProblemInvalidBinding, http.StatusBadRequest, "Invalid denial binding", "evaluation_id does not match the binding token")
	}
	return &c, nil
}

var _ crypto.Signer = ed25519.PrivateKey(nil)
