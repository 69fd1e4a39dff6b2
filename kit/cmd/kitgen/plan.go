package main

import (
	"bufio"
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"go/format"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/template"
)

// Module is the module path of the kitshop repository.
const Module = "github.com/kitshop/kitshop"

// templates holds the files a service is made of (templates/files, paths
// with NAME for the service name) and the entries added to existing files
// (templates/fragments). Templates use [[ ]] as delimiters, so that Go
// composite literals such as []errs.FieldError{{…}} stay plain text.
//
//go:embed templates
var templates embed.FS

// data is what the templates see.
type data struct {
	Name      string // inventory: package, directory, Consul service, database
	Title     string // Inventory: exported identifiers (InventoryService)
	Upper     string // INVENTORY: environment variable prefix
	Module    string // the module path
	APIPrefix string // /api/v1/inventory: the public path prefix

	HTTPPort, GRPCPort int // the service's fixed ports in the local stack and containers
	MetricsPort        int // its internal /metrics port in the local stack
}

func newData(name string, httpPort, grpcPort int) data {
	return data{
		Name:      name,
		Title:     strings.ToUpper(name[:1]) + name[1:],
		Upper:     strings.ToUpper(name),
		Module:    Module,
		APIPrefix: "/api/v1/" + name,
		HTTPPort:  httpPort,
		GRPCPort:  grpcPort,
		// MetricsPort: the local stack's convention (product 8081/9281).
		MetricsPort: httpPort + metricsOffset,
	}
}

// file is one file of the plan: created, or changed when original is set.
type file struct {
	path     string // slash-separated, relative to the repository root
	data     []byte
	perm     fs.FileMode
	original []byte // the content before the change; nil for a new file
}

// plan is everything kitgen will write, checked before anything is.
type plan struct {
	root  string
	data  data
	files []file // new files first, then changed ones
}

// newPlan renders the service, works out the changes to the deployment
// files, generates the protobuf code and checks that none of it clashes
// with what the repository at root already has. The cheap checks come
// first, so that a taken name fails before protoc runs.
func newPlan(root, name string) (*plan, error) {
	if err := checkTaken(root, name); err != nil {
		return nil, err
	}
	httpPort, grpcPort, err := choosePorts(root)
	if err != nil {
		return nil, err
	}
	p := &plan{root: root, data: newData(name, httpPort, grpcPort)}
	created, err := renderFiles(p.data)
	if err != nil {
		return nil, err
	}
	if err := checkNew(root, name, created); err != nil {
		return nil, err
	}
	changed, err := editDeployFiles(root, p.data)
	if err != nil {
		return nil, err
	}
	generated, err := generateProto(root, created)
	if err != nil {
		return nil, err
	}
	if err := checkNew(root, name, generated); err != nil {
		return nil, err
	}
	p.files = slices.Concat(created, generated, changed)
	return p, nil
}

// checkNew fails if any of files exists already.
func checkNew(root, name string, files []file) error {
	for _, f := range files {
		_, err := os.Lstat(filepath.Join(root, filepath.FromSlash(f.path)))
		switch {
		case err == nil:
			return fmt.Errorf("%s already exists: is there a service %q already? Pick another name", f.path, name)
		case !errors.Is(err, fs.ErrNotExist):
			return err
		}
	}
	return nil
}

// list prints the plan's files, created then changed.
func (p *plan) list(w io.Writer) {
	for _, f := range p.files {
		verb := "create"
		if f.original != nil {
			verb = "change"
		}
		fmt.Fprintf(w, "  %s %s\n", verb, f.path)
	}
}

// findRoot returns the nearest directory at or above dir whose go.mod
// declares Module.
func findRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for start := dir; ; {
		if modulePath(filepath.Join(dir, "go.mod")) == Module {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("not inside the kitshop repository: no go.mod declaring module %s in %s or above; run kitgen from the repository", Module, start)
		}
		dir = parent
	}
}

// modulePath returns the module path a go.mod declares, or "".
func modulePath(goMod string) string {
	f, err := os.Open(goMod)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) >= 2 && fields[0] == "module" {
			return strings.Trim(fields[1], `"`)
		}
	}
	return ""
}

// checkTaken fails if the repository has anything by the name already: a
// top-level file or directory, or a service of the local stack.
func checkTaken(root, name string) error {
	if _, err := os.Lstat(filepath.Join(root, name)); err == nil {
		return fmt.Errorf("%s already exists in the repository: pick another name", name)
	}
	builtIn := regexp.MustCompile(`\bName:\s*"` + name + `"`)
	sources, err := filepath.Glob(filepath.Join(root, "deploy", "local", "*.go"))
	if err != nil {
		return err
	}
	for _, src := range sources {
		if strings.HasSuffix(src, "_test.go") {
			continue
		}
		b, err := os.ReadFile(src)
		if err != nil {
			return err
		}
		if builtIn.Match(b) {
			return fmt.Errorf("the local stack already has a service %q (%s): pick another name", name, relSlash(root, src))
		}
	}
	return nil
}

// Ports are chosen in this range, gRPC being HTTP + grpcOffset and the
// internal metrics listener HTTP + metricsOffset, as for the services of
// the sample app (8081/9081/9281, 8083/9083/9283, ...).
const (
	firstHTTPPort = 8081
	lastHTTPPort  = 8799 // so that HTTP + metricsOffset stays below 10000
	grpcOffset    = 1000
	metricsOffset = 1200
)

// portFiles are where the repository writes down the ports it uses.
var portFiles = []string{
	"deploy/local/*.go",
	"deploy/local/services/*.json",
	"docker-compose.yml",
	"deploy/k8s/base/*.yaml",
	"*/cmd/*/main.go",
}

var portNumber = regexp.MustCompile(`\b[89][0-9]{3}\b`)

// choosePorts returns the first HTTP port from firstHTTPPort on such that
// neither it nor its gRPC and metrics ports appear in portFiles: the next
// free set after the existing services, the same on every run for the same
// repository.
// Being generous with what counts as used (any 8xxx or 9xxx number) only
// skips a set.
func choosePorts(root string) (httpPort, grpcPort int, err error) {
	used := map[int]bool{}
	for _, pattern := range portFiles {
		matches, err := filepath.Glob(filepath.Join(root, filepath.FromSlash(pattern)))
		if err != nil {
			return 0, 0, err
		}
		for _, m := range matches {
			if strings.HasSuffix(m, "_test.go") {
				continue // tests use ports of their own making
			}
			b, err := os.ReadFile(m)
			if err != nil {
				return 0, 0, err
			}
			for _, s := range portNumber.FindAll(b, -1) {
				n, _ := strconv.Atoi(string(s))
				used[n] = true
			}
		}
	}
	for p := firstHTTPPort; p <= lastHTTPPort; p++ {
		if !used[p] && !used[p+grpcOffset] && !used[p+metricsOffset] {
			return p, p + grpcOffset, nil
		}
	}
	return 0, 0, fmt.Errorf("no free set of ports with HTTP between %d and %d", firstHTTPPort, lastHTTPPort)
}

// renderFiles renders templates/files for d: Go sources gofmt'd, JSON
// checked, everything ready to write.
func renderFiles(d data) ([]file, error) {
	var files []file
	err := fs.WalkDir(templates, "templates/files", func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		rel := strings.TrimSuffix(strings.TrimPrefix(p, "templates/files/"), ".tmpl")
		out, err := render(p, d)
		if err != nil {
			return err
		}
		f := file{path: strings.ReplaceAll(rel, "NAME", d.Name), data: out, perm: 0o644}
		switch path.Ext(f.path) {
		case ".go":
			formatted, err := format.Source(out)
			if err != nil {
				return fmt.Errorf("template %s does not render to valid Go: %w", p, err)
			}
			f.data = formatted
		case ".json":
			if !json.Valid(out) {
				return fmt.Errorf("template %s does not render to valid JSON", p)
			}
		}
		files = append(files, f)
		return nil
	})
	return files, err
}

// render executes one template of the templates FS.
func render(name string, d data) ([]byte, error) {
	src, err := templates.ReadFile(name)
	if err != nil {
		return nil, err
	}
	t, err := template.New(path.Base(name)).Delims("[[", "]]").Option("missingkey=error").Parse(string(src))
	if err != nil {
		return nil, fmt.Errorf("template %s: %w", name, err)
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, d); err != nil {
		return nil, fmt.Errorf("template %s: %w", name, err)
	}
	return buf.Bytes(), nil
}

// fragment renders templates/fragments/<name>.tmpl into lines.
func fragment(name string, d data) ([]string, error) {
	out, err := render("templates/fragments/"+name+".tmpl", d)
	if err != nil {
		return nil, err
	}
	return strings.Split(strings.TrimSuffix(string(out), "\n"), "\n"), nil
}

func relSlash(root, p string) string {
	rel, err := filepath.Rel(root, p)
	if err != nil {
		return p
	}
	return filepath.ToSlash(rel)
}
