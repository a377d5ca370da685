// Package telemetry sets up the one OpenTelemetry configuration every
// agentguard server uses: metrics exported to Prometheus on /metrics, traces
// exported over OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set, W3C trace
// context propagation, and slog JSON logs.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploggrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	otellog "go.opentelemetry.io/otel/log"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Options configures Setup.
type Options struct {
	// ServiceName is the OTel service.name. Default "agentguard".
	ServiceName string
	// Version is the OTel service.version. Default "dev".
	Version string
	// OTLPEndpoint enables the OTLP trace and log exporters when non-empty.
	// cmd/ fills it from OTEL_EXPORTER_OTLP_ENDPOINT; the exporters also
	// honour the other OTEL_EXPORTER_OTLP_* variables.
	OTLPEndpoint string
	// OTLPProtocol is "grpc" or "http/protobuf" (the default, as the OTel
	// specification says); cmd/ fills it from OTEL_EXPORTER_OTLP_PROTOCOL.
	OTLPProtocol string
}

func (o *Options) setDefaults() {
	if o.ServiceName == "" {
		o.ServiceName = "agentguard"
	}
	if o.Version == "" {
		o.Version = "dev"
	}
}

// Telemetry holds the providers of one process.
type Telemetry struct {
	Registry       *prometheus.Registry
	MeterProvider  metric.MeterProvider
	TracerProvider trace.TracerProvider
	Propagator     propagation.TextMapPropagator
	// LoggerProvider ships OTel log records (the decision log's records)
	// over OTLP; nil without an endpoint.
	LoggerProvider otellog.LoggerProvider

	shutdown []func(context.Context) error
}

// Setup builds the providers. It also installs them as the OTel globals so
// that libraries instrumented with otel.GetTracerProvider join the same
// pipeline.
func Setup(ctx context.Context, opts Options) (*Telemetry, error) {
	opts.setDefaults()
	res := resource.NewSchemaless(
		semconv.ServiceName(opts.ServiceName),
		semconv.ServiceVersion(opts.Version),
	)

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	exporter, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithoutScopeInfo())
	if err != nil {
		return nil, fmt.Errorf("prometheus exporter: %w", err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter), sdkmetric.WithResource(res))
	t := &Telemetry{
		Registry:      reg,
		MeterProvider: mp,
		Propagator:    propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
		shutdown:      []func(context.Context) error{mp.Shutdown},
	}

	if opts.OTLPEndpoint != "" {
		var (
			texp sdktrace.SpanExporter
			lexp sdklog.Exporter
			err  error
		)
		if opts.OTLPProtocol == "grpc" {
			if texp, err = otlptracegrpc.New(ctx); err == nil {
				lexp, err = otlploggrpc.New(ctx)
			}
		} else {
			if texp, err = otlptracehttp.New(ctx); err == nil {
				lexp, err = otlploghttp.New(ctx)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("otlp exporters: %w", err)
		}
		tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(texp), sdktrace.WithResource(res))
		lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(sdklog.NewBatchProcessor(lexp)), sdklog.WithResource(res))
		t.TracerProvider, t.LoggerProvider = tp, lp
		t.shutdown = append(t.shutdown, tp.Shutdown, lp.Shutdown)
	} else {
		// Nothing to export to: spans are not recorded, but an incoming
		// traceparent still propagates (the noop tracer keeps the parent's
		// span context), so logs carry the caller's trace id.
		t.TracerProvider = noop.NewTracerProvider()
	}
	otel.SetTracerProvider(t.TracerProvider)
	otel.SetMeterProvider(mp)
	otel.SetTextMapPropagator(t.Propagator)
	return t, nil
}

// Noop returns telemetry that records nothing, for tests and libraries used
// without a server.
func Noop() *Telemetry {
	return &Telemetry{
		Registry:       prometheus.NewRegistry(),
		MeterProvider:  sdkmetric.NewMeterProvider(),
		TracerProvider: noop.NewTracerProvider(),
		Propagator:     propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
	}
}

// MetricsHandler serves the Prometheus exposition of this process's metrics.
func (t *Telemetry) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(t.Registry, promhttp.HandlerOpts{})
}

// Shutdown flushes and stops the providers.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	var errs []error
	for _, f := range t.shutdown {
		errs = append(errs, f(ctx))
	}
	return errors.Join(errs...)
}
