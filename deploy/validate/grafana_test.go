package validate_test

import (
	"bytes"
	"encoding/json"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/kitshop/kitshop/deploy/validate"
)

// grafanaDatasource is one provisioned data source. Decoding is strict, so
// a misspelt key fails here rather than being ignored by Grafana.
type grafanaDatasource struct {
	Name      string         `yaml:"name"`
	UID       string         `yaml:"uid"`
	Type      string         `yaml:"type"`
	Access    string         `yaml:"access"`
	URL       string         `yaml:"url"`
	IsDefault bool           `yaml:"isDefault"`
	Editable  bool           `yaml:"editable"`
	JSONData  map[string]any `yaml:"jsonData"`
}

// grafanaProvider is one dashboard provider.
type grafanaProvider struct {
	Name            string `yaml:"name"`
	Type            string `yaml:"type"`
	DisableDeletion bool   `yaml:"disableDeletion"`
	AllowUIUpdates  bool   `yaml:"allowUiUpdates"`
	Options         struct {
		Path string `yaml:"path"`
	} `yaml:"options"`
}

// decodeProvisioning strictly decodes every YAML file of a provisioning
// folder (deploy/grafana/provisioning/<kind>) into out, one per file.
func decodeProvisioning[T any](t *testing.T, kind string) map[string]T {
	t.Helper()
	dir := filepath.Join(repoRoot(t), "deploy/grafana/provisioning", kind)
	files, err := filepath.Glob(filepath.Join(dir, "*.y*ml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no provisioning files in %s (%v)", dir, err)
	}
	out := map[string]T{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		var v T
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out[filepath.Base(f)] = v
	}
	return out
}

// TestGrafanaProvisioning checks what the compose file's Grafana loads at
// start, without running it (offline compose runs have no Grafana): the
// provisioning folder is mounted where Grafana reads it; every data source
// points at a compose service on a port that service has, and their uids
// are unique with one default; every dashboard provider reads a folder
// into which dashboards are mounted; and the dashboard's data source
// references (panels, queries, variables, exemplar links) resolve to a
// provisioned data source or to a variable of a type one is provisioned
// for.
func TestGrafanaProvisioning(t *testing.T) {
	c := compose(t)
	g, ok := c.Services["grafana"]
	if !ok {
		t.Fatal("docker-compose.yml runs no grafana")
	}
	root := repoRoot(t)
	if src, _, ok := g.Mount("/etc/grafana/provisioning"); !ok || filepath.Clean(src) != filepath.Join(root, "deploy/grafana/provisioning") {
		t.Errorf("/etc/grafana/provisioning mounts %q, want deploy/grafana/provisioning", src)
	}

	type datasources struct {
		APIVersion  int                 `yaml:"apiVersion"`
		Datasources []grafanaDatasource `yaml:"datasources"`
	}
	byUID := map[string]grafanaDatasource{}
	types := map[string]bool{}
	defaults := 0
	for file, f := range decodeProvisioning[datasources](t, "datasources") {
		if f.APIVersion != 1 {
			t.Errorf("%s: apiVersion %d, want 1", file, f.APIVersion)
		}
		for _, ds := range f.Datasources {
			if ds.UID == "" || ds.Name == "" || ds.Type == "" {
				t.Errorf("%s: data source %+v needs a name, uid and type", file, ds)
			}
			if _, dup := byUID[ds.UID]; dup {
				t.Errorf("%s: uid %q used twice", file, ds.UID)
			}
			byUID[ds.UID] = ds
			types[ds.Type] = true
			if ds.IsDefault {
				defaults++
			}
			checkDatasourceURL(t, c, ds)
		}
	}
	if defaults != 1 {
		t.Errorf("%d default data sources, want 1", defaults)
	}
	for _, ds := range byUID {
		dests, _ := ds.JSONData["exemplarTraceIdDestinations"].([]any)
		for _, d := range dests {
			uid, _ := d.(map[string]any)["datasourceUid"].(string)
			if _, ok := byUID[uid]; !ok {
				t.Errorf("data source %s: exemplar link to uid %q, which is not provisioned", ds.UID, uid)
			}
		}
	}

	type providers struct {
		APIVersion int               `yaml:"apiVersion"`
		Providers  []grafanaProvider `yaml:"providers"`
	}
	var dashboards []string // host paths of the provisioned dashboard files
	for file, f := range decodeProvisioning[providers](t, "dashboards") {
		for _, p := range f.Providers {
			if p.Type != "file" {
				t.Errorf("%s: provider %s has type %q, want file", file, p.Name, p.Type)
				continue
			}
			found := mountedDashboards(g, p.Options.Path)
			if len(found) == 0 {
				t.Errorf("%s: provider %s reads %s, where compose mounts no dashboard", file, p.Name, p.Options.Path)
			}
			dashboards = append(dashboards, found...)
		}
	}
	if home := g.Environment["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]; home != "" {
		if src, _, ok := g.Mount(home); !ok || !slices.Contains(dashboards, src) {
			t.Errorf("GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH %s is not a provisioned dashboard (mounted from %q)", home, src)
		}
	}
	for _, d := range dashboards {
		checkDashboardDatasources(t, d, byUID, types)
	}
}

// checkDatasourceURL fails t unless the data source's URL names a compose
// service and a port it publishes or probes.
func checkDatasourceURL(t *testing.T, c *validate.Compose, ds grafanaDatasource) {
	t.Helper()
	u, err := url.Parse(ds.URL)
	if err != nil {
		t.Errorf("data source %s: url %q: %v", ds.UID, ds.URL, err)
		return
	}
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil {
		t.Errorf("data source %s: url %q: want host:port", ds.UID, ds.URL)
		return
	}
	svc, ok := c.Services[host]
	if !ok {
		t.Errorf("data source %s: url %q: %s is not a compose service", ds.UID, ds.URL, host)
		return
	}
	n, _ := strconv.Atoi(port)
	has := slices.ContainsFunc(svc.Ports, func(p validate.Port) bool { return p.Target == n })
	if svc.Healthcheck != nil && strings.Contains(strings.Join(svc.Healthcheck.Test, " "), ":"+port+"/") {
		has = true
	}
	if !has {
		t.Errorf("data source %s: url %q: %s neither publishes nor probes port %s", ds.UID, ds.URL, host, port)
	}
}

// mountedDashboards returns the host paths of the JSON files the service
// has in the container folder dir: files mounted into it, or the JSON files
// of a folder mounted at it.
func mountedDashboards(s validate.ComposeService, dir string) []string {
	dir = path.Clean(dir)
	var out []string
	for _, m := range s.Mounts() {
		switch {
		case path.Dir(m.Target) == dir && strings.HasSuffix(m.Target, ".json"):
			out = append(out, m.Source)
		case m.Target == dir:
			files, _ := filepath.Glob(filepath.Join(m.Source, "*.json"))
			out = append(out, files...)
		}
	}
	return out
}

// variableRE matches a dashboard variable reference: $name or ${name}.
var variableRE = regexp.MustCompile(`^\$\{?([A-Za-z0-9_]+)\}?$`)

// checkDashboardDatasources fails t unless every data source reference of
// the dashboard file resolves: a provisioned uid, or a datasource variable
// whose plugin type has a provisioned data source. A variable's current
// value may be an import placeholder (__inputs), which Grafana replaces by
// a data source of the variable's type when it finds none of that uid.
func checkDashboardDatasources(t *testing.T, file string, byUID map[string]grafanaDatasource, types map[string]bool) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Templating struct {
			List []struct {
				Name  string `json:"name"`
				Type  string `json:"type"`
				Query any    `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	dsVars := map[string]string{} // variable name → plugin type
	for _, v := range dash.Templating.List {
		if v.Type != "datasource" {
			continue
		}
		plugin, _ := v.Query.(string)
		if !types[plugin] {
			t.Errorf("%s: variable %s picks a %q data source; none is provisioned", filepath.Base(file), v.Name, plugin)
		}
		dsVars[v.Name] = plugin
	}
	var doc any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	refs := 0
	walkDatasources(doc, func(typ, uid string) {
		refs++
		if m := variableRE.FindStringSubmatch(uid); m != nil {
			plugin, ok := dsVars[m[1]]
			switch {
			case !ok:
				t.Errorf("%s: data source %q is no datasource variable of the dashboard", filepath.Base(file), uid)
			case typ != "" && typ != plugin:
				t.Errorf("%s: data source %q of type %s, but the variable picks %s", filepath.Base(file), uid, typ, plugin)
			}
			return
		}
		if ds, ok := byUID[uid]; !ok {
			t.Errorf("%s: data source uid %q is not provisioned", filepath.Base(file), uid)
		} else if typ != "" && typ != ds.Type {
			t.Errorf("%s: data source %q of type %s, but it is provisioned as %s", filepath.Base(file), uid, typ, ds.Type)
		}
	})
	if refs == 0 {
		t.Errorf("%s: no panel names a data source", filepath.Base(file))
	}
}

// walkDatasources calls f with the type and uid of every "datasource"
// object in the JSON document v.
func walkDatasources(v any, f func(typ, uid string)) {
	switch v := v.(type) {
	case map[string]any:
		for k, child := range v {
			if ds, ok := child.(map[string]any); ok && k == "datasource" {
				uid, _ := ds["uid"].(string)
				typ, _ := ds["type"].(string)
				f(typ, uid)
				continue
			}
			walkDatasources(child, f)
		}
	case []any:
		for _, child := range v {
			walkDatasources(child, f)
		}
	}
}
