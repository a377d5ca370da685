package audit

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	otellog "go.opentelemetry.io/otel/log"
	"go.opentelemetry.io/otel/trace"
)

// Event names of the OTel log records NewOTelSink emits.
const (
	EventRecord     = "agentguard.audit.record"
	EventCheckpoint = "agentguard.audit.checkpoint"
)

// otelScope is the instrumentation scope of the audit logger and meter.
const otelScope = "github.com/agentguard/agentguard/audit"

// NewOTelSink returns a Sink that emits every record and checkpoint as an
// OTel log record (an event) through lp, e.g. an SDK LoggerProvider with
// an OTLP exporter and a batch processor, for central storage.
//
// The body is the record's canonical line, so the central copy can be
// chain-checked too; the main fields are also attributes for querying, and
// the record's trace and span ids become the log record's trace context.
func NewOTelSink(lp otellog.LoggerProvider) Sink {
	return &otelSink{logger: lp.Logger(otelScope)}
}

type otelSink struct {
	logger otellog.Logger
}

func (s *otelSink) Emit(e Entry) {
	ctx := context.Background()
	var rec otellog.Record
	rec.SetObservedTimestamp(time.Now())
	rec.SetBody(attribute.StringValue(string(e.Line)))
	switch {
	case e.Record != nil:
		r := e.Record
		rec.SetEventName(EventRecord)
		rec.SetTimestamp(r.Time)
		rec.SetSeverity(otellog.SeverityInfo)
		if r.Kind == KindDrop {
			rec.SetSeverity(otellog.SeverityWarn)
		}
		rec.AddAttributes(
			attribute.Int64("agentguard.audit.seq", int64(r.Seq)), //nolint:gosec // seq stays far below 2^63
			attribute.String("agentguard.audit.kind", string(r.Kind)),
			attribute.String("agentguard.audit.hash", r.Hash),
			attribute.String("agentguard.audit.prev", r.Prev),
		)
		add := func(k, v string) {
			if v != "" {
				rec.AddAttributes(attribute.String(k, v))
			}
		}
		add("agentguard.agent", r.Agent)
		add("agentguard.agent.instance", r.Instance)
		add("agentguard.credential", r.Credential)
		add("agentguard.on_behalf_of", r.OnBehalfOf)
		add("gen_ai.tool.name", r.Tool)
		add("agentguard.action", r.Action)
		add("k8s.namespace.name", r.Namespace)
		add("agentguard.resource", r.Object)
		add("agentguard.decision", r.Decision)
		add("agentguard.reason", r.Reason)
		add("agentguard.bundle_revision", r.Revision)
		add("agentguard.decision_id", r.DecisionID)
		add("agentguard.grant_id", r.GrantID)
		add("agentguard.event", r.Event)
		add("session.id", r.SessionID)
		add("agentguard.task_id", r.TaskID)
		if len(r.Policies) > 0 {
			rec.AddAttributes(attribute.StringSlice("agentguard.policies", r.Policies))
		}
		if len(r.Delegation) > 0 {
			rec.AddAttributes(attribute.StringSlice("agentguard.delegation", r.Delegation))
		}
		if r.Count > 0 {
			rec.AddAttributes(attribute.Int64("agentguard.audit.count", int64(r.Count))) //nolint:gosec // a drop count stays far below 2^63
		}
		if sc := spanContext(r.TraceID, r.SpanID); sc.IsValid() {
			ctx = trace.ContextWithSpanContext(ctx, sc)
		}
	case e.Checkpoint != nil:
		c := e.Checkpoint
		rec.SetEventName(EventCheckpoint)
		rec.SetTimestamp(c.Time)
		rec.SetSeverity(otellog.SeverityInfo)
		rec.AddAttributes(
			attribute.Int64("agentguard.audit.seq", int64(c.Seq)), //nolint:gosec // seq stays far below 2^63
			attribute.String("agentguard.audit.head", c.Head),
			attribute.String("agentguard.audit.key_id", c.KeyID),
		)
	default:
		return
	}
	s.logger.Emit(ctx, rec)
}

// spanContext builds a remote span context from hex ids; invalid ids give
// an invalid context.
func spanContext(traceID, spanID string) trace.SpanContext {
	tid, err := trace.TraceIDFromHex(traceID)
	if err != nil {
		return trace.SpanContext{}
	}
	var cfg trace.SpanContextConfig
	cfg.TraceID = tid
	if sid, err := trace.SpanIDFromHex(spanID); err == nil {
		cfg.SpanID = sid
	}
	cfg.Remote = true
	return trace.NewSpanContext(cfg)
}
