package authzen

import (
	"encoding/json"
	"net/http"
	"sync"

	"github.com/go-json-experiment/json/jsontext"
)

// jsonType is the Content-Type of every response, shared by all of them.
var jsonType = []string{"application/json"}

// writeDecisions answers 200 with a Decision or evaluationsResponse. A
// plain decision (no access request, no error: nearly all of them) is
// appended member by member into a pooled buffer, with jsontext's string
// quoting; anything else goes through encoding/json. Both give the same
// JSON (TestAppendDecision). net/http adds Content-Length.
func writeDecisions[T Decision | evaluationsResponse](w http.ResponseWriter, v *T) {
	w.Header()["Content-Type"] = jsonType
	if d, ok := any(v).(*Decision); ok && plain(d) {
		bp := bufs.Get().(*[]byte)
		b := appendDecision((*bp)[:0], d)
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(b)
		*bp = b
		bufs.Put(bp)
		return
	}
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(v)
}

var bufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// plain reports whether appendDecision can encode d.
func plain(d *Decision) bool {
	c := d.Context
	return c == nil || c.AccessRequest == nil && c.Error == nil
}

// appendDecision appends d as encoding/json would (members in struct
// order, omitempty), then a newline. d must be plain.
func appendDecision(b []byte, d *Decision) []byte {
	b = append(b, `{"decision":`...)
	if d.Decision {
		b = append(b, "true"...)
	} else {
		b = append(b, "false"...)
	}
	if c := d.Context; c != nil {
		b = append(b, `,"context":{`...)
		n := len(b)
		b = appendMember(b, n, "decision_id", c.DecisionID)
		b = appendMember(b, n, "evaluation_id", c.EvaluationID)
		b = appendMember(b, n, "evaluated_at", c.EvaluatedAt)
		if len(c.Policies) > 0 {
			b = sep(b, n)
			b = append(b, `"policies":[`...)
			for i, p := range c.Policies {
				if i > 0 {
					b = append(b, ',')
				}
				b, _ = jsontext.AppendQuote(b, p)
			}
			b = append(b, ']')
		}
		b = appendMember(b, n, "reason", c.Reason)
		if c.ReasonAdmin != nil {
			b = sep(b, n)
			b = append(b, `"reason_admin":{"en":`...)
			b, _ = jsontext.AppendQuote(b, c.ReasonAdmin.En)
			b = append(b, '}')
		}
		if c.Approval != nil {
			b = sep(b, n)
			b = append(b, `"approval":{"id":`...)
			b, _ = jsontext.AppendQuote(b, c.Approval.ID)
			b = append(b, `,"approved_until":`...)
			b, _ = jsontext.AppendQuote(b, c.Approval.ApprovedUntil)
			b = append(b, '}')
		}
		b = appendMember(b, n, "revision", c.Revision)
		b = appendMember(b, n, "code", c.Code)
		b = append(b, '}')
	}
	return append(b, "}\n"...)
}

// appendMember appends "name":value unless value is empty; n is where the
// object's first member starts.
func appendMember(b []byte, n int, name, value string) []byte {
	if value == "" {
		return b
	}
	b = sep(b, n)
	b = append(b, '"')
	b = append(b, name...)
	b = append(b, `":`...)
	b, _ = jsontext.AppendQuote(b, value)
	return b
}

func sep(b []byte, n int) []byte {
	if len(b) > n {
		b = append(b, ',')
	}
	return b
}
