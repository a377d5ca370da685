package authzen

import (
	"net/http"
	"strings"

	"github.com/agentguard/agentguard/internal/httpx"
)

// Metadata is the PDP metadata document (§9).
type Metadata struct {
	PolicyDecisionPoint       string   `json:"policy_decision_point"`
	AccessEvaluationEndpoint  string   `json:"access_evaluation_endpoint"`
	AccessEvaluationsEndpoint string   `json:"access_evaluations_endpoint,omitempty"`
	AccessRequestEndpoint     string   `json:"access_request_endpoint,omitempty"`
	JWKSURI                   string   `json:"jwks_uri,omitempty"`
	Capabilities              []string `json:"capabilities,omitempty"`
}

// CapabilityAccessRequest is advertised when the access request API is on.
const CapabilityAccessRequest = "urn:openid:authzen:capability:access-request"

func (s *Server) handleMetadata(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		httpx.WriteError(w, r, httpx.Errorf(http.StatusMethodNotAllowed, "method %s not allowed: use GET", r.Method))
		return
	}
	base := strings.TrimSuffix(s.opts.BaseURL, "/")
	if base == "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		base = scheme + "://" + r.Host
	}
	md := Metadata{
		PolicyDecisionPoint:       base,
		AccessEvaluationEndpoint:  base + PathEvaluation,
		AccessEvaluationsEndpoint: base + PathEvaluations,
	}
	if s.opts.Grants != nil {
		md.AccessRequestEndpoint = base + PathRequests
		md.Capabilities = []string{CapabilityAccessRequest}
	}
	if s.opts.Signer != nil {
		md.JWKSURI = base + PathJWKS
	}
	httpx.WriteJSON(w, http.StatusOK, md)
}
