package conformance

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"

	"github.com/agentguard/agentguard/audit"
)

// probeRecords sends n decisions for the probe caller and waits for their
// records in the profile's decision log. It returns the records found per
// decision id, and false (check MANUAL) when none arrived: the log is then
// not the live log of the PDP under test.
func (s *session) probeRecords(ctx context.Context, r *record, n int) (map[string][]audit.Record, []string, bool) {
	dl := s.profile.DecisionLog
	if !s.needPDP(r) {
		return nil, nil, false
	}
	if dl.Dir == "" {
		r.manual("no decision log given (--audit-dir: the live log directory of the PDP under test)")
		return nil, nil, false
	}
	task := "agconf-" + s.nonce + "-records"
	var ids []string
	for i := range n {
		tool := s.profile.PDP.AllowedTool
		if i%2 == 1 && len(s.profile.PDP.DeniedTools) > 0 {
			tool = s.profile.PDP.DeniedTools[0]
		}
		a, err := s.post(ctx, pathEvaluation, s.opts.PDPToken, s.evalBody(s.profile.PDP.Caller.Subject, tool, map[string]any{"task": task}))
		if err != nil {
			r.errorf("%v", err)
			return nil, nil, false
		}
		id, _ := a.context()["decision_id"].(string)
		if a.status != http.StatusOK || id == "" {
			r.errorf("probe decision %d: HTTP %d without a decision_id", i, a.status)
			r.info("probe decision", a.req, a.response())
			return nil, nil, false
		}
		ids = append(ids, id)
	}
	r.info(fmt.Sprintf("%d probe decisions sent (task %s)", n, task), "", fmt.Sprint(ids))
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	found := map[string][]audit.Record{}
	deadline := time.Now().Add(10 * time.Second)
	for {
		found = map[string][]audit.Record{}
		if err := readRecords(dl.Dir, func(rec audit.Record) {
			if want[rec.DecisionID] {
				found[rec.DecisionID] = append(found[rec.DecisionID], rec)
			}
		}); err != nil {
			r.errorf("read the decision log %s: %v", dl.Dir, err)
			return nil, nil, false
		}
		if len(found) == len(ids) || time.Now().After(deadline) || !sleepCtx(ctx, 200) {
			break
		}
	}
	if len(found) == 0 {
		r.manual("none of the %d probe decisions reached %s within 10s: give the live decision-log directory of the PDP under test", n, dl.Dir)
		return nil, nil, false
	}
	return found, ids, true
}

// readRecords calls f for every record of the log in dir.
func readRecords(dir string, f func(audit.Record)) error {
	c, err := audit.OpenCursor(dir, 0)
	if err != nil {
		return err
	}
	defer func() { _ = c.Close() }()
	for {
		rec, _, err := c.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		f(rec)
	}
}

// checkOneRecordPerDecision: exactly one record per decision (AG-OBS-013).
func checkOneRecordPerDecision(ctx context.Context, s *session, r *record) {
	const n = 6
	found, ids, ok := s.probeRecords(ctx, r, n)
	if !ok {
		return
	}
	for _, id := range ids {
		switch recs := found[id]; len(recs) {
		case 0:
			r.finding("decision "+id+" has no record in the decision log", "", "")
		case 1:
			r.ok(fmt.Sprintf("decision %s has exactly one record (seq %d)", id, recs[0].Seq), "", toJSON(recs[0]))
		default:
			r.finding(fmt.Sprintf("decision %s has %d records", id, len(recs)), "", toJSON(recs))
		}
	}
	r.skip("the central store behind the local log (OTLP export)", "log-based count by outcome against the PDP counter")
}

// checkRecordFields: records say who acted, with which credential, when,
// what and why (AG-SEC-010).
func checkRecordFields(ctx context.Context, s *session, r *record) {
	found, ids, ok := s.probeRecords(ctx, r, 2)
	if !ok {
		return
	}
	for _, id := range ids {
		for _, rec := range found[id] {
			var missing []string
			for field, v := range map[string]string{"agent": rec.Agent, "action": rec.Action, "resource (tool or object)": rec.Tool + rec.Object,
				"decision": rec.Decision, "task_id": rec.TaskID, "credential": rec.Credential, "instance": rec.Instance} {
				if v == "" {
					missing = append(missing, field)
				}
			}
			if rec.Time.IsZero() {
				missing = append(missing, "time")
			}
			if len(missing) > 0 {
				r.finding(fmt.Sprintf("record %d of decision %s lacks %v", rec.Seq, id, sortedStrings(missing)), "", toJSON(rec))
			} else {
				r.ok(fmt.Sprintf("record %d of decision %s names agent, instance, credential, time, action, resource and task", rec.Seq, id), "", toJSON(rec))
			}
		}
	}
	r.skip("a delegated call (token exchange act chain user → agent A → agent B) and its ordered chain")
}

func sortedStrings(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}
