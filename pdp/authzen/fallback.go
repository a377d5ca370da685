package authzen

import (
	"net/http"

	"github.com/agentguard/agentguard/internal/httpx"
	"github.com/agentguard/agentguard/pdp/client"
)

// MaxFallbackRecords bounds one batch of fallback records.
const MaxFallbackRecords = 10000

// handleFallbackRecords is POST /access/v1/fallback-records: a PEP that was
// cut off from the PDP reports the decisions its declared fallback made, so
// that they reach the decision log (AG-CC-007).
func (s *Server) handleFallbackRecords(w http.ResponseWriter, r *http.Request) {
	body, err := httpx.ReadJSONBody(w, r, 8*s.opts.MaxBodyBytes)
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	var batch client.RecordBatch
	if err := decode(body, &batch); err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	if len(batch.Records) > MaxFallbackRecords {
		httpx.WriteError(w, r, httpx.Errorf(http.StatusRequestEntityTooLarge, "records: %d, at most %d per batch", len(batch.Records), MaxFallbackRecords))
		return
	}
	for i, rec := range batch.Records {
		if rec.Subject.Type == "" || rec.Subject.ID == "" || rec.Resource.ID == "" || rec.Mode == "" || rec.Time.IsZero() {
			httpx.WriteError(w, r, httpx.Errorf(http.StatusBadRequest, "records[%d]: subject, resource, mode and time are required", i))
			return
		}
	}
	s.metrics.fallbackRecords(r.Context(), len(batch.Records), batch.Dropped)
	s.auditFallback(r.Context(), caller(r), batch)
	if s.opts.OnFallbackRecords != nil {
		s.opts.OnFallbackRecords(r.Context(), caller(r), batch)
	}
	httpx.WriteJSON(w, http.StatusAccepted, map[string]int{"accepted": len(batch.Records), "dropped": batch.Dropped})
}
