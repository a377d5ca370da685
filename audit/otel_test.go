package audit

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	"google.golang.org/protobuf/proto"
)

// otlpReceiver is an in-process OTLP/HTTP logs endpoint.
type otlpReceiver struct {
	mu   sync.Mutex
	recs []*logspb.LogRecord
}

func (o *otlpReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil || r.URL.Path != "/v1/logs" {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	var req collogspb.ExportLogsServiceRequest
	if err := proto.Unmarshal(body, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	o.mu.Lock()
	for _, rl := range req.GetResourceLogs() {
		for _, sl := range rl.GetScopeLogs() {
			o.recs = append(o.recs, sl.GetLogRecords()...)
		}
	}
	o.mu.Unlock()
	out, _ := proto.Marshal(&collogspb.ExportLogsServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

func attrs(r *logspb.LogRecord) map[string]string {
	m := map[string]string{}
	for _, kv := range r.GetAttributes() {
		v := kv.GetValue()
		switch {
		case v.GetStringValue() != "":
			m[kv.GetKey()] = v.GetStringValue()
		case v.GetArrayValue() != nil:
			m[kv.GetKey()] = "array"
		default:
			m[kv.GetKey()] = time.Duration(v.GetIntValue()).String()
		}
	}
	return m
}

// Records and checkpoints reach an OTLP receiver as log events, with the
// canonical line as body and the decision's trace context.
func TestOTelSinkExportsOverOTLP(t *testing.T) {
	t.Parallel()
	recv := &otlpReceiver{}
	srv := httptest.NewServer(recv)
	defer srv.Close()
	ctx := context.Background()
	exp, err := otlploghttp.New(ctx, otlploghttp.WithEndpointURL(srv.URL+"/v1/logs"))
	if err != nil {
		t.Fatal(err)
	}
	lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(sdklog.NewBatchProcessor(exp)))

	_, priv := testKey(t)
	dir := t.TempDir()
	var lines []string
	keep := SinkFunc(func(e Entry) {
		if e.Record != nil {
			lines = append(lines, string(e.Line))
		}
	})
	l, err := Open(dir, Options{SigningKey: priv, Sinks: []Sink{NewOTelSink(lp), keep}})
	if err != nil {
		t.Fatal(err)
	}
	r := decision(3)
	r.TraceID, r.SpanID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	l.Append(r)
	l.Append(decision(4))
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := lp.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	recv.mu.Lock()
	defer recv.mu.Unlock()
	var records, checkpoints []*logspb.LogRecord
	for _, lr := range recv.recs {
		switch lr.GetEventName() {
		case EventRecord:
			records = append(records, lr)
		case EventCheckpoint:
			checkpoints = append(checkpoints, lr)
		default:
			t.Errorf("unexpected event %q", lr.GetEventName())
		}
	}
	if len(records) != 2 || len(checkpoints) != 2 { // genesis at Open, final at Close
		t.Fatalf("received %d records and %d checkpoints, want 2 and 2", len(records), len(checkpoints))
	}
	first := records[0]
	if got := first.GetBody().GetStringValue(); got != lines[0] {
		t.Errorf("body %s, want the record line %s", got, lines[0])
	}
	if _, err := ParseRecord([]byte(first.GetBody().GetStringValue())); err != nil {
		t.Errorf("the shipped body does not parse as a record: %v", err)
	}
	a := attrs(first)
	if a["agentguard.audit.kind"] != string(KindPDPDecision) || a["gen_ai.tool.name"] != "web.search" ||
		a["agentguard.decision"] != DecisionDeny || a["agentguard.policies"] != "array" || a["agentguard.audit.hash"] == "" {
		t.Errorf("attributes %v", a)
	}
	if got := first.GetTraceId(); len(got) != 16 || got[0] != 0x4b {
		t.Errorf("trace id %x", got)
	}
	if first.GetTimeUnixNano() == 0 || first.GetSeverityNumber() != logspb.SeverityNumber_SEVERITY_NUMBER_INFO {
		t.Errorf("time %d severity %v", first.GetTimeUnixNano(), first.GetSeverityNumber())
	}
	if len(records[1].GetTraceId()) != 0 {
		t.Errorf("a record without trace context got trace id %x", records[1].GetTraceId())
	}
}

// The metrics count what the log does, with bounded attributes.
func TestMetrics(t *testing.T) {
	t.Parallel()
	reader := metric.NewManualReader()
	mp := metric.NewMeterProvider(metric.WithReader(reader))
	_, priv := testKey(t)
	sink := &blockingSink{blocked: make(chan struct{}), release: make(chan struct{})}
	l, err := Open(t.TempDir(), Options{SigningKey: priv, QueueSize: 2, FlushInterval: time.Millisecond, MeterProvider: mp, Sinks: []Sink{sink}})
	if err != nil {
		t.Fatal(err)
	}
	l.Append(decision(0))
	<-sink.blocked
	for i := range 5 {
		l.Append(Record{Kind: KindAdmission, DecisionID: string(rune('a' + i))})
	}
	got := collect(t, reader)
	if got["agentguard.audit.queue.depth"] != 2 || got["agentguard.audit.queue.capacity"] != 2 ||
		got["agentguard.audit.dropped{reason=queue_full}"] != 3 {
		t.Errorf("while blocked: %v", got)
	}
	close(sink.release)
	for deadline := time.Now().Add(10 * time.Second); l.Stats().Written < 4; {
		if time.Now().After(deadline) {
			t.Fatalf("writer stuck: %+v", l.Stats())
		}
		time.Sleep(time.Millisecond)
	}
	got = collect(t, reader)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if after := collect(t, reader); len(after) != 0 {
		t.Errorf("metrics still reported after Close: %v", after)
	}
	want := map[string]int64{
		"agentguard.audit.records{kind=pdp_decision}": 1,
		"agentguard.audit.records{kind=admission}":    2,
		"agentguard.audit.records{kind=drop}":         1,
		"agentguard.audit.dropped{reason=queue_full}": 3,
		"agentguard.audit.queue.depth":                0,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %d, want %d (all: %v)", k, got[k], v, got)
		}
	}
	if got["agentguard.audit.checkpoints"] < 1 || got["agentguard.audit.written"] == 0 {
		t.Errorf("checkpoints %d, bytes %d", got["agentguard.audit.checkpoints"], got["agentguard.audit.written"])
	}
}

// collect flattens int64 data points to "name{k=v}" -> value.
func collect(t *testing.T, r *metric.ManualReader) map[string]int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			var points []metricdata.DataPoint[int64]
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				points = d.DataPoints
			case metricdata.Gauge[int64]:
				points = d.DataPoints
			}
			for _, p := range points {
				key := m.Name
				if p.Attributes.Len() > 0 {
					kv := p.Attributes.ToSlice()[0]
					key += "{" + string(kv.Key) + "=" + kv.Value.AsString() + "}"
				}
				out[key] = p.Value
			}
		}
	}
	return out
}
