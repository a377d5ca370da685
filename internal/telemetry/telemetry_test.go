package telemetry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	otellog "go.opentelemetry.io/otel/log"
	"go.opentelemetry.io/otel/trace"
	collogs "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/agentguard/agentguard/internal/telemetry"
)

// receiver is an in-process OTLP/HTTP collector.
type receiver struct {
	mu    sync.Mutex
	spans []string
	logs  []string
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	switch r.URL.Path {
	case "/v1/traces":
		var req coltrace.ExportTraceServiceRequest
		if err := proto.Unmarshal(body, &req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		for _, rs := range req.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				for _, sp := range ss.Spans {
					rc.spans = append(rc.spans, sp.Name)
				}
			}
		}
	case "/v1/logs":
		var req collogs.ExportLogsServiceRequest
		if err := proto.Unmarshal(body, &req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		for _, rl := range req.ResourceLogs {
			for _, sl := range rl.ScopeLogs {
				for _, lr := range sl.LogRecords {
					rc.logs = append(rc.logs, lr.Body.GetStringValue())
				}
			}
		}
	default:
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.WriteHeader(http.StatusOK)
}

// TestOTLPExport: spans and log records reach an OTLP receiver over
// OTLP/HTTP, configured by the standard environment variables.
func TestOTLPExport(t *testing.T) {
	rc := &receiver{}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", srv.URL)
	ctx := context.Background()
	tel, err := telemetry.Setup(ctx, telemetry.Options{OTLPEndpoint: srv.URL, OTLPProtocol: "http/protobuf"})
	if err != nil {
		t.Fatal(err)
	}
	_, span := tel.TracerProvider.Tracer("test").Start(ctx, "agentguard.decide")
	span.End()
	var rec otellog.Record
	rec.SetBody(attribute.StringValue("decision record"))
	tel.LoggerProvider.Logger("test").Emit(ctx, rec)
	if err := tel.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.spans) != 1 || rc.spans[0] != "agentguard.decide" {
		t.Errorf("receiver got spans %v", rc.spans)
	}
	if len(rc.logs) != 1 || rc.logs[0] != "decision record" {
		t.Errorf("receiver got logs %v", rc.logs)
	}
}

func TestLoggerAddsTraceIDs(t *testing.T) {
	tel, err := telemetry.Setup(context.Background(), telemetry.Options{OTLPEndpoint: ""})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	log, err := telemetry.NewLogger(&buf, "info", "json")
	if err != nil {
		t.Fatal(err)
	}
	// Without an exporter spans are not recorded, but a caller's span
	// context (from its traceparent) still reaches the logs.
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	parent := trace.ContextWithRemoteSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled, Remote: true}))
	ctx, span := tel.TracerProvider.Tracer("t").Start(parent, "x")
	defer span.End()
	log.InfoContext(ctx, "hello")
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatal(err)
	}
	if line["trace_id"] != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("log line %v lacks the caller's trace_id", line)
	}
	if _, err := telemetry.NewLogger(&buf, "loud", "json"); err == nil || !strings.Contains(err.Error(), "log level") {
		t.Errorf("bad level accepted: %v", err)
	}
	if _, err := telemetry.NewLogger(&buf, "info", "xml"); err == nil {
		t.Error("bad format accepted")
	}
}
