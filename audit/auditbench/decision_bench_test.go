package auditbench_test

import (
	"encoding/json"
	"syscall"
	"testing"
	"time"

	"github.com/agentguard/agentguard/audit"
	"github.com/agentguard/agentguard/pdp"
)

// cpuTime is the process's user+system CPU time: with other processes on
// the machine, wall-clock ns/op overstates the cost, CPU time does not.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkDecision measures a PDP decision alone and with its decision
// record appended to an open log (the writer running): "serial" is one
// goroutine deciding back to back, which leaves a core for the writer;
// "parallel" saturates every core, so the writer competes with the
// decisions. cpu-ns/op includes the writer's work; drops/op shows whether
// the writer kept up.
func BenchmarkDecision(b *testing.B) {
	eng, err := pdp.Load("../../policies", pdp.Options{})
	if err != nil {
		b.Fatal(err)
	}
	req := &pdp.Request{
		Subject:  pdp.Entity{Type: "agent", ID: "acme-agents/triage"},
		Action:   pdp.Action{Name: "call_tool"},
		Resource: pdp.Entity{Type: "tool", ID: "crm/export_contacts"},
	}
	// The tool call's arguments, as a PEP would pass them along.
	args := json.RawMessage(`{"purpose":"weekly report","authorization":"Bearer abc123","limit":100}`)
	if _, err := eng.Evaluate(req); err != nil {
		b.Fatal(err)
	}
	_, priv, err := audit.GenerateKey()
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		parallel, withLog bool
	}{{false, false}, {false, true}, {true, false}, {true, true}} {
		name := "serial/pdp"
		if bc.parallel {
			name = "parallel/pdp"
		}
		if bc.withLog {
			name += "+audit"
		}
		withLog := bc.withLog
		b.Run(name, func(b *testing.B) {
			var l *audit.Log // a nil Log appends nothing
			if withLog {
				if l, err = audit.Open(b.TempDir(), audit.Options{SigningKey: priv, QueueSize: 1 << 16}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			cpu0 := cpuTime(b)
			b.ResetTimer()
			decide := func() bool {
				d, err := eng.Evaluate(req)
				if err != nil {
					b.Error(err)
					return false
				}
				decision := audit.DecisionDeny
				if d.Allowed {
					decision = audit.DecisionAllow
				}
				l.Append(audit.Record{
					Kind: audit.KindPDPDecision, Agent: req.Subject.ID, Tool: req.Resource.ID,
					Action: req.Action.Name, Decision: decision, Policies: d.Reasons,
					Revision: d.Revision, DecisionID: d.ID, Args: args,
				})
				return true
			}
			if bc.parallel {
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() && decide() {
					}
				})
			} else {
				for i := 0; i < b.N && decide(); i++ {
				}
			}
			if l != nil {
				if err := l.Close(); err != nil { // the backlog is written inside the timing
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(b.N), "cpu-ns/op")
			if l != nil {
				st := l.Stats()
				b.ReportMetric(float64(st.Dropped)/float64(b.N), "drops/op")
			}
		})
	}
}
