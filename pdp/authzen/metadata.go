package authzen

import (
	"net/http"
	"strings"

	"github.com/agentguard/agentguard/internal/httpx"
)

// Metadata is the PDP metadata document (§9).
type Metadata struct {
	PolicyDecisionPoint       string `json:"policy_decision_point"`
	AccessEvaluationEndpoint  string `json:"access_evaluation_endpoint"`
	AccessEvaluationsEndpoint string `json:"access_evaluations_endpoint,omitempty"`
}

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
	httpx.WriteJSON(w, http.StatusOK, Metadata{
		PolicyDecisionPoint:       base,
		AccessEvaluationEndpoint:  base + PathEvaluation,
		AccessEvaluationsEndpoint: base + PathEvaluations,
	})
}
