package metricstest

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Metrics is one parsed scrape.
type Metrics struct {
	families map[string]*dto.MetricFamily
	text     string
}

// Scrape GETs url, a /metrics endpoint, and parses the answer; any failure
// (status other than 200, malformed text) fails the test.
func Scrape(t testing.TB, url string) *Metrics {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("scraping %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("scraping %s: %v", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scraping %s: status %d: %s", url, resp.StatusCode, body)
	}
	m, err := Parse(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("scraping %s: %v", url, err)
	}
	return m
}

// Parse reads metrics in the Prometheus text exposition format.
func Parse(r io.Reader) (*Metrics, error) {
	text, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(strings.NewReader(string(text)))
	if err != nil {
		return nil, fmt.Errorf("parsing metrics: %w", err)
	}
	return &Metrics{families: families, text: string(text)}, nil
}

// Has reports whether a metric family of that name is present, whatever its
// series.
func (m *Metrics) Has(name string) bool {
	_, ok := m.families[name]
	return ok
}

// Value returns the sum of the values of the counter, gauge or untyped
// series named name whose labels include all of labels (nil matches every
// series), and whether there was any such series.
func (m *Metrics) Value(name string, labels map[string]string) (float64, bool) {
	var sum float64
	found := false
	for _, s := range m.series(name, labels) {
		switch {
		case s.Counter != nil:
			sum += s.Counter.GetValue()
		case s.Gauge != nil:
			sum += s.Gauge.GetValue()
		case s.Untyped != nil:
			sum += s.Untyped.GetValue()
		default:
			continue
		}
		found = true
	}
	return sum, found
}

// Count returns the sum of the observation counts of the histogram (or
// summary) series named name whose labels include all of labels, and
// whether there was any such series.
func (m *Metrics) Count(name string, labels map[string]string) (uint64, bool) {
	var sum uint64
	found := false
	for _, s := range m.series(name, labels) {
		switch {
		case s.Histogram != nil:
			sum += s.Histogram.GetSampleCount()
		case s.Summary != nil:
			sum += s.Summary.GetSampleCount()
		default:
			continue
		}
		found = true
	}
	return sum, found
}

// String returns the exposition text as scraped, for failure messages.
func (m *Metrics) String() string { return m.text }

func (m *Metrics) series(name string, labels map[string]string) []*dto.Metric {
	f, ok := m.families[name]
	if !ok {
		return nil
	}
	var out []*dto.Metric
	for _, s := range f.GetMetric() {
		if matches(s, labels) {
			out = append(out, s)
		}
	}
	return out
}

func matches(s *dto.Metric, labels map[string]string) bool {
	found := 0
	for _, lp := range s.GetLabel() {
		if want, ok := labels[lp.GetName()]; ok {
			if want != lp.GetValue() {
				return false
			}
			found++
		}
	}
	return found == len(labels)
}
