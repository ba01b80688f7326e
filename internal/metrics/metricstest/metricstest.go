// Package metricstest scrapes a metrics handler the way Prometheus does, for tests that check what a run
// exported rather than what a counter holds inside.
package metricstest

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Page is one scrape: the text as served and its metric families by name (a histogram's _bucket, _sum and
// _count lines are one family under the histogram's name).
type Page struct {
	Text     string
	Families map[string]*dto.MetricFamily
}

// Scrape GETs /metrics from h and parses it; a status other than 200 or text that does not parse fails
// the test.
func Scrape(t testing.TB, h http.Handler) Page {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", rec.Code, rec.Body.String())
	}
	text := rec.Body.String()
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("GET /metrics: %v\n%s", err, text)
	}
	return Page{Text: text, Families: fams}
}

// Value sums the samples of name whose labels include labels (name, value, name, value, ...), and reports
// whether any matched. For a histogram, name is the histogram's name with _count or _sum appended.
func (p Page) Value(name string, labels ...string) (float64, bool) {
	fam, field := p.Families[name], ""
	if fam == nil {
		for _, suffix := range []string{"_count", "_sum"} {
			if base, ok := strings.CutSuffix(name, suffix); ok && p.Families[base].GetType() == dto.MetricType_HISTOGRAM {
				fam, field = p.Families[base], suffix
			}
		}
	}
	if fam == nil {
		return 0, false
	}
	var sum float64
	found := false
	for _, m := range fam.GetMetric() {
		if !hasLabels(m, labels) {
			continue
		}
		found = true
		switch {
		case field == "_count":
			sum += float64(m.GetHistogram().GetSampleCount())
		case field == "_sum":
			sum += m.GetHistogram().GetSampleSum()
		case m.Counter != nil:
			sum += m.GetCounter().GetValue()
		case m.Gauge != nil:
			sum += m.GetGauge().GetValue()
		case m.Untyped != nil:
			sum += m.GetUntyped().GetValue()
		}
	}
	return sum, found
}

func hasLabels(m *dto.Metric, labels []string) bool {
	for i := 0; i+1 < len(labels); i += 2 {
		ok := false
		for _, l := range m.GetLabel() {
			if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}
