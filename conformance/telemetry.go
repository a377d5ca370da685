package conformance

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape fetches and parses a Prometheus text endpoint.
func (s *session) scrape(ctx context.Context, url string) (map[string]*dto.MetricFamily, error) {
	hc := s.http
	if s.profile.Telemetry.InsecureSkipVerify && strings.HasPrefix(url, "https://") {
		hc = &http.Client{Timeout: s.http.Timeout, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // the profile asked for it explicitly
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/plain; version=0.0.4")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: HTTP %d", url, resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", url, err)
	}
	return fams, nil
}

func (s *session) pdpMetricsURL() string {
	if u := s.profile.Telemetry.PDPMetricsURL; u != "" {
		return u
	}
	if s.opts.PDPURL != "" {
		return s.opts.PDPURL + "/metrics"
	}
	return ""
}

func familyLabels(f *dto.MetricFamily) []string {
	seen := map[string]bool{}
	for _, m := range f.GetMetric() {
		for _, l := range m.GetLabel() {
			seen[l.GetName()] = true
		}
	}
	var out []string
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func checkMetrics(ctx context.Context, s *session, r *record) {
	t := s.profile.Telemetry
	endpoints := []struct {
		what, url string
		req       []MetricRequirement
	}{
		{"PDP", s.pdpMetricsURL(), t.RequiredPDPMetrics},
		{"webhook", t.WebhookMetricsURL, t.RequiredWebhookMetrics},
	}
	if s.opts.PDPURL != "" && s.opts.PDPToken != "" && s.pdpMetricsURL() != "" {
		// Counters appear on /metrics only once recorded: make one decision.
		a, err := s.post(ctx, pathEvaluation, s.opts.PDPToken, s.evalBody(s.profile.PDP.Caller.Subject, s.profile.PDP.AllowedTool, nil))
		if err != nil {
			r.errorf("%v", err)
			return
		}
		r.info("one probe decision, so the PDP's decision metrics have a sample", a.req, a.response())
	}
	scraped := 0
	for _, e := range endpoints {
		if e.url == "" {
			r.skip("the " + e.what + " metrics (no " + e.what + " /metrics URL given)")
			continue
		}
		scraped++
		fams, err := s.scrape(ctx, e.url)
		if err != nil {
			r.finding("the "+e.what+" metrics endpoint cannot be scraped", "GET "+e.url, err.Error())
			continue
		}
		for _, m := range e.req {
			f, ok := fams[m.Name]
			if !ok {
				r.finding(e.what+" metric "+m.Name+" is missing", "GET "+e.url, fmt.Sprintf("%d metric families, none named %s", len(fams), m.Name))
				continue
			}
			have := familyLabels(f)
			var missing []string
			for _, l := range m.Labels {
				if !slices.Contains(have, l) {
					missing = append(missing, l)
				}
			}
			if len(missing) > 0 {
				r.finding(fmt.Sprintf("%s metric %s lacks label(s) %s", e.what, m.Name, strings.Join(missing, ", ")), "GET "+e.url, "labels: "+strings.Join(have, ", "))
			} else {
				r.ok(fmt.Sprintf("%s metric %s present (%s, labels %s)", e.what, m.Name, f.GetType(), strings.Join(have, ", ")), "GET "+e.url, "")
			}
		}
	}
	if scraped == 0 {
		r.manual("no /metrics URL given (--pdp, --pdp-metrics-url or --webhook-metrics-url)")
	}
	r.skip("per-agent and per-tool decision labels, bundle revision and age, active grants and fallback metrics unless listed in the profile's telemetry.required*Metrics",
		"scrape targets (PodMonitor/ServiceMonitor or OTLP) for every agent workload")
}

// counterSum adds up every sample of a counter family.
func counterSum(f *dto.MetricFamily) float64 {
	var sum float64
	for _, m := range f.GetMetric() {
		sum += m.GetCounter().GetValue()
	}
	return sum
}

func checkDecisionCounter(ctx context.Context, s *session, r *record) {
	if !s.needPDP(r) {
		return
	}
	url := s.pdpMetricsURL()
	const name, n = "agentguard_pdp_decisions_total", 5
	before, err := s.scrape(ctx, url)
	if err != nil {
		r.finding("the PDP metrics endpoint cannot be scraped", "GET "+url, err.Error())
		return
	}
	var b0 float64
	if f, ok := before[name]; ok {
		b0 = counterSum(f)
	}
	for i := 0; i < n; i++ {
		a, err := s.post(ctx, pathEvaluation, s.opts.PDPToken, s.evalBody(s.profile.PDP.Caller.Subject, s.profile.PDP.AllowedTool, nil))
		if err != nil {
			r.errorf("%v", err)
			return
		}
		if a.status != http.StatusOK {
			r.errorf("probe decision %d: HTTP %d", i, a.status)
			return
		}
	}
	after, err := s.scrape(ctx, url)
	if err != nil {
		r.finding("the PDP metrics endpoint cannot be scraped", "GET "+url, err.Error())
		return
	}
	f, ok := after[name]
	if !ok {
		r.finding(name+" is missing after "+fmt.Sprint(n)+" decisions", "GET "+url, "")
		return
	}
	delta := counterSum(f) - b0
	step := fmt.Sprintf("%s rose by %v over %d probe decisions", name, delta, n)
	switch {
	case delta < n:
		r.finding(step+" (decisions went uncounted)", fmt.Sprintf("%d × POST %s", n, pathEvaluation), fmt.Sprintf("before %v, after %v", b0, counterSum(f)))
	case delta > n:
		r.ok(step+" (the PDP served other traffic meanwhile)", fmt.Sprintf("%d × POST %s", n, pathEvaluation), fmt.Sprintf("before %v, after %v", b0, counterSum(f)))
	default:
		r.ok(step, fmt.Sprintf("%d × POST %s", n, pathEvaluation), fmt.Sprintf("before %v, after %v", b0, counterSum(f)))
	}
	r.skip("agent and tool labels on the counter; comparison with the tools seen in the decision log")
}
