package local

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
)

// serviceFiles holds services/*.json, the services added to the stack by
// file (kitgen writes one per generated service; see services/README.md).
// The directory also holds the README, so the pattern always matches.
//
//go:embed services
var serviceFiles embed.FS

// FileServices returns the services described by deploy/local/services/*.json
// as embedded at build time, in file name order. The files are checked by
// this package's tests; a broken one panics here, naming the file, rather
// than start a stack without the service.
func FileServices() []ServiceSpec {
	sub, err := fs.Sub(serviceFiles, "services")
	if err != nil {
		panic(err) // the directory is embedded; cannot happen
	}
	specs, err := LoadServices(sub)
	if err != nil {
		panic("deploy/local: " + err.Error())
	}
	return specs
}

// LoadServices reads every <name>.json at the top of fsys, in name order,
// into a ServiceSpec (see services/README.md for the format). Decoding is
// strict: an unknown field, a name other than the file's, a service without
// instances or a route without a path or status is an error naming the
// file.
func LoadServices(fsys fs.FS) ([]ServiceSpec, error) {
	names, err := fs.Glob(fsys, "*.json")
	if err != nil {
		return nil, err
	}
	var specs []ServiceSpec
	for _, name := range names { // fs.Glob sorts
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		spec, err := parseServiceFile(b, strings.TrimSuffix(path.Base(name), ".json"))
		if err != nil {
			return nil, fmt.Errorf("services/%s: %w", name, err)
		}
		specs = append(specs, spec)
	}
	return specs, nil
}

// serviceFile is the JSON form of a ServiceSpec.
type serviceFile struct {
	Name     string   `json:"name"`
	Database string   `json:"database"`
	Args     []string `json:"args"`
	Env      []string `json:"env"`
	Routes   []struct {
		Method string `json:"method"`
		Path   string `json:"path"`
		Body   string `json:"body"`
		Status int    `json:"status"`
	} `json:"routes"`
	Instances []struct {
		ID          string   `json:"id"`
		HTTPPort    int      `json:"http_port"`
		GRPCPort    int      `json:"grpc_port"`
		MetricsPort int      `json:"metrics_port"`
		Args        []string `json:"args"`
	} `json:"instances"`
	Examples []struct {
		Title   string `json:"title"`
		Command string `json:"command"`
	} `json:"examples"`
}

func parseServiceFile(b []byte, want string) (ServiceSpec, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var f serviceFile
	if err := dec.Decode(&f); err != nil {
		return ServiceSpec{}, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return ServiceSpec{}, errors.New("trailing data after the JSON object")
	}
	var problems []error
	if f.Name != want {
		problems = append(problems, fmt.Errorf("name %q: want the file's name %q", f.Name, want))
	}
	if len(f.Instances) == 0 {
		problems = append(problems, errors.New("no instances"))
	}
	spec := ServiceSpec{Name: f.Name, Database: f.Database, Args: f.Args, Env: f.Env}
	for i, r := range f.Routes {
		if !strings.HasPrefix(r.Path, "/") || r.Status < 100 || r.Status > 599 {
			problems = append(problems, fmt.Errorf("routes[%d]: want a path starting with / and an HTTP status", i))
		}
		spec.Routes = append(spec.Routes, RouteCheck{Method: r.Method, Path: r.Path, Body: r.Body, Status: r.Status})
	}
	for i, inst := range f.Instances {
		for _, p := range []int{inst.HTTPPort, inst.GRPCPort, inst.MetricsPort} {
			if p < 0 || p > 65535 {
				problems = append(problems, fmt.Errorf("instances[%d]: port %d out of range", i, p))
			}
		}
		spec.Instances = append(spec.Instances, InstanceSpec{ID: inst.ID, HTTPPort: inst.HTTPPort, GRPCPort: inst.GRPCPort, MetricsPort: inst.MetricsPort, Args: inst.Args})
	}
	for _, ex := range f.Examples {
		spec.Examples = append(spec.Examples, Example{Title: ex.Title, Command: ex.Command})
	}
	return spec, errors.Join(problems...)
}
