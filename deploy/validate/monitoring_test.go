package validate_test

import (
	"encoding/json"
	"net"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// prometheusConfig is the part of prometheus.yml the checks read. Decoding
// is strict, so a misspelt key fails here rather than being ignored.
type prometheusConfig struct {
	Global        map[string]string `yaml:"global"`
	ScrapeConfigs []scrapeConfig    `yaml:"scrape_configs"`
}

type scrapeConfig struct {
	JobName       string `yaml:"job_name"`
	MetricsPath   string `yaml:"metrics_path"`
	StaticConfigs []struct {
		Targets []string          `yaml:"targets"`
		Labels  map[string]string `yaml:"labels"`
	} `yaml:"static_configs"`
	ConsulSDConfigs []struct {
		Server          string   `yaml:"server"`
		Services        []string `yaml:"services"`
		Tags            []string `yaml:"tags"`
		RefreshInterval string   `yaml:"refresh_interval"`
	} `yaml:"consul_sd_configs"`
	RelabelConfigs []relabelConfig `yaml:"relabel_configs"`
}

type relabelConfig struct {
	SourceLabels []string `yaml:"source_labels"`
	Separator    string   `yaml:"separator"`
	Regex        string   `yaml:"regex"`
	Replacement  string   `yaml:"replacement"`
	TargetLabel  string   `yaml:"target_label"`
	Action       string   `yaml:"action"`
}

func prometheus(t *testing.T) prometheusConfig {
	t.Helper()
	dec := yaml.NewDecoder(strings.NewReader(string(readFile(t, "deploy/prometheus/prometheus.yml"))))
	dec.KnownFields(true)
	var cfg prometheusConfig
	if err := dec.Decode(&cfg); err != nil {
		t.Fatalf("prometheus.yml: %v", err)
	}
	return cfg
}

// TestPrometheusScrapesEveryService checks that every application service
// of the compose file is scraped: as a static target, or through the
// Consul service discovery job when the service registers in Consul (every
// kitshop service registers with the meta metrics_port the job keeps).
func TestPrometheusScrapesEveryService(t *testing.T) {
	cfg := prometheus(t)
	c := compose(t)
	static := map[string]bool{}   // host of every static target
	consulSD := map[string]bool{} // Consul servers of SD jobs that keep kitshop services
	jobs := map[string]bool{}
	for _, sc := range cfg.ScrapeConfigs {
		if jobs[sc.JobName] {
			t.Errorf("job %q appears twice", sc.JobName)
		}
		jobs[sc.JobName] = true
		for _, st := range sc.StaticConfigs {
			for _, target := range st.Targets {
				host, _, err := net.SplitHostPort(target)
				if err != nil {
					t.Errorf("job %s: target %q: %v", sc.JobName, target, err)
					continue
				}
				static[host] = true
				if _, ok := c.Services[host]; !ok && host != "127.0.0.1" && host != "localhost" {
					t.Errorf("job %s: target %q is not a compose service", sc.JobName, target)
				}
			}
		}
		for _, sd := range sc.ConsulSDConfigs {
			if len(sd.Services) > 0 || len(sd.Tags) > 0 {
				continue // a filtered job would miss new services
			}
			keepsKitshop := slices.ContainsFunc(sc.RelabelConfigs, func(r relabelConfig) bool {
				return r.Action == "keep" && slices.Equal(r.SourceLabels, []string{"__meta_consul_service_metadata_metrics_port"})
			})
			if keepsKitshop {
				consulSD[sd.Server] = true
			}
		}
	}
	for _, app := range appServices(t, c) {
		t.Run(app.name, func(t *testing.T) {
			if static[app.name] {
				return
			}
			consulAddr := app.spec.Environment[app.prefix+"_CONSUL_ADDR"]
			registers := app.service != publicService && consulAddr != ""
			if registers && consulSD[consulAddr] {
				return
			}
			t.Errorf("not scraped: neither a static target nor registered in a Consul that a discovery job reads (%s_CONSUL_ADDR=%q)", app.prefix, consulAddr)
		})
	}
	if _, ok := c.Services["prometheus"]; !ok {
		t.Error("docker-compose.yml runs no prometheus")
	}
}

// The metric names kit/metrics exports and their labels (job and instance
// are the target labels Prometheus adds); the dashboard may use only these.
var metricLabels = map[string][]string{
	"kitshop_requests_total":                          {"service", "method", "outcome"},
	"kitshop_request_duration_seconds_bucket":         {"service", "method", "outcome", "le"},
	"kitshop_gateway_requests_total":                  {"route", "upstream", "code"},
	"kitshop_gateway_request_duration_seconds_bucket": {"route", "upstream", "le"},
	"kitshop_breaker_open":                            {"breaker"},
	"kitshop_breaker_rejections_total":                {"breaker"},
	"kitshop_ratelimit_rejections_total":              {"limiter"},
	"kitshop_db_pool_acquired_conns":                  {"pool"},
	"kitshop_db_pool_max_conns":                       {"pool"},
	"kitshop_db_pool_empty_acquires_total":            {"pool"},
	"kitshop_breaker_transitions_total":               {"breaker", "to"},
	"kitshop_outbox_backlog_events":                   {},
	"kitshop_outbox_oldest_unpublished_seconds":       {},
	"kitshop_outbox_published_total":                  {},
	"kitshop_subscriber_consumed_total":               {"stream", "outcome"},
	"kitshop_subscriber_redeliveries_total":           {"stream"},
	"kitshop_subscriber_dead_letters_total":           {"stream"},
	"kitshop_subscriber_lag_messages":                 {"stream", "consumer"},
	"up":                                              {},
}

var (
	metricRE  = regexp.MustCompile(`\b(kitshop_[a-z_]+|up)\b`)
	byLabelRE = regexp.MustCompile(`\bby \(([^)]*)\)`)
	matcherRE = regexp.MustCompile(`([a-z_]+)\s*(=~|!~|!=|=)\s*"`)
)

// TestGrafanaDashboard checks that the dashboard is importable JSON whose
// queries use only the metrics and labels that exist, and that it shows
// rate, errors and latency for the services and for the gateway.
func TestGrafanaDashboard(t *testing.T) {
	var dash struct {
		UID    string `json:"uid"`
		Title  string `json:"title"`
		Inputs []struct {
			Name     string `json:"name"`
			PluginID string `json:"pluginId"`
		} `json:"__inputs"`
		Panels []struct {
			ID         int    `json:"id"`
			Type       string `json:"type"`
			Title      string `json:"title"`
			Datasource *struct {
				UID string `json:"uid"`
			} `json:"datasource"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(readFile(t, "deploy/grafana/kitshop-dashboard.json"), &dash); err != nil {
		t.Fatalf("kitshop-dashboard.json: %v", err)
	}
	if dash.UID == "" || dash.Title == "" {
		t.Error("dashboard has no uid or title")
	}
	if len(dash.Inputs) != 1 || dash.Inputs[0].PluginID != "prometheus" {
		t.Errorf("__inputs = %+v, want one Prometheus data source to choose on import", dash.Inputs)
	}
	ids := map[int]bool{}
	var exprs []string
	for _, p := range dash.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d used twice", p.ID)
		}
		ids[p.ID] = true
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q: data source is not the ${datasource} variable", p.Title)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, target := range p.Targets {
			exprs = append(exprs, target.Expr)
			checkExpr(t, p.Title, target.Expr)
		}
	}
	all := strings.Join(exprs, "\n")
	for _, want := range []string{
		"rate(kitshop_requests_total",
		`outcome!="success"`,
		`kitshop_requests_total{service=~"$service",outcome=~"internal|unavailable"}`,
		"histogram_quantile(0.99, sum by (service, le) (rate(kitshop_request_duration_seconds_bucket",
		"rate(kitshop_gateway_requests_total",
		`kitshop_gateway_requests_total{code=~"5.."}`,
		"histogram_quantile(0.99, sum by (route, le) (rate(kitshop_gateway_request_duration_seconds_bucket",
		// The event pipeline.
		"kitshop_outbox_backlog_events",
		"kitshop_outbox_oldest_unpublished_seconds",
		"rate(kitshop_outbox_published_total",
		"kitshop_subscriber_lag_messages",
		"rate(kitshop_subscriber_redeliveries_total",
		"rate(kitshop_subscriber_dead_letters_total",
		"kitshop_breaker_transitions_total",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("no query contains %q", want)
		}
	}
}

// checkExpr fails t if expr names an unknown metric, or groups or filters
// by a label the metrics it uses do not have.
func checkExpr(t *testing.T, panel, expr string) {
	t.Helper()
	metrics := metricRE.FindAllString(expr, -1)
	if len(metrics) == 0 {
		t.Errorf("panel %q: %s uses no kitshop metric", panel, expr)
	}
	labels := map[string]bool{}
	for _, m := range metrics {
		known, ok := metricLabels[m]
		if !ok {
			t.Errorf("panel %q: unknown metric %s", panel, m)
			continue
		}
		for _, l := range append(known, "job", "instance") {
			labels[l] = true
		}
	}
	var used []string
	for _, m := range byLabelRE.FindAllStringSubmatch(expr, -1) {
		for _, l := range strings.Split(m[1], ",") {
			used = append(used, strings.TrimSpace(l))
		}
	}
	for _, m := range matcherRE.FindAllStringSubmatch(expr, -1) {
		used = append(used, m[1])
	}
	for _, l := range used {
		if !labels[l] {
			t.Errorf("panel %q: label %q is not a label of %v", panel, l, metrics)
		}
	}
}
