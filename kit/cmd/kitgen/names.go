package main

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"go/types"
	"regexp"
	"strings"
)

// namePattern is what a service name may look like: it becomes a Go package
// and identifier prefix, a directory, a Consul service, a database and role,
// a DNS label (<name>-db in compose and Kubernetes) and an environment
// variable prefix, and this is what all of them accept.
var namePattern = regexp.MustCompile(`^[a-z][a-z0-9]{1,30}$`)

// reservedNames are names a service cannot have, with the reason.
var reservedNames = map[string]string{
	// Top-level directories of the repository, present or conventional.
	"kit":        "the toolkit's directory",
	"gateway":    "the gateway's name",
	"proto":      "the protobuf directory",
	"migrations": "the migrations directory",
	"deploy":     "the deployment directory",
	"internal":   "Go's internal directory",
	"bench":      "the benchmarks' directory",
	"docs":       "the documentation directory",
	"tools":      "the tools module's directory",
	"bin":        "the build output directory",
	"cmd":        "a directory name of every command",
	"vendor":     "Go's vendor directory",
	"testdata":   "Go's test data directory",
	"zz":         "the dependency placeholder package",
	"seed":       "the seed data directory (migrations/seed)",
	// The services of the sample app, whether their directories exist yet or
	// not, and the infrastructure the stack runs under these names.
	"product":    "the catalog service",
	"user":       "the user service",
	"order":      "the order service",
	"consul":     "the service registry's name in the stack",
	"postgres":   "the database's name in the stack",
	"prometheus": "the metrics server's name in docker-compose.yml",
	"grafana":    "the dashboards' name in the deployment files",
	// Words YAML reads as booleans or null: "POSTGRES_DB: no" is no string.
	"yes": "a YAML boolean", "no": "a YAML boolean", "on": "a YAML boolean", "off": "a YAML boolean",
	"true": "a YAML boolean", "false": "a YAML boolean", "null": "YAML's null",
}

// placeholderName renders the templates when only their own identifiers
// are wanted; nothing in them contains it by accident.
const placeholderName = "zzkitgenplaceholder"

// checkName returns an error saying why name cannot be a new service's
// name, without looking at any repository: the syntax, Go keywords and
// predeclared identifiers, reserved names, and identifiers the generated
// code declares or imports (a service called "errors" or "pool" would shadow
// them or be shadowed).
func checkName(name string) error {
	if !namePattern.MatchString(name) {
		return fmt.Errorf("invalid service name %q: use 2 to 31 characters, lower-case letters a-z and digits, "+
			"starting with a letter (the name becomes a Go package, a directory, a Consul service, a database and a DNS label)", name)
	}
	if token.IsKeyword(name) {
		return fmt.Errorf("invalid service name %q: it is a Go keyword", name)
	}
	if types.Universe.Lookup(name) != nil {
		return fmt.Errorf("invalid service name %q: it is a predeclared Go identifier", name)
	}
	if reason, ok := reservedNames[name]; ok {
		return fmt.Errorf("service name %q is reserved (%s): pick another one", name, reason)
	}
	idents, err := templateIdentifiers()
	if err != nil {
		return err
	}
	if idents[name] {
		return fmt.Errorf("service name %q is an identifier the generated code uses (a package or a variable): pick another one", name)
	}
	return nil
}

// templateIdentifiers returns every identifier in the Go templates rendered
// for placeholderName, except those derived from the name: package names
// (pgx, http, errs), variables (svc, pool), types and fields.
func templateIdentifiers() (map[string]bool, error) {
	files, err := renderFiles(newData(placeholderName, 0, 0))
	if err != nil {
		return nil, err
	}
	idents := map[string]bool{}
	fset := token.NewFileSet()
	for _, f := range files {
		if !strings.HasSuffix(f.path, ".go") {
			continue
		}
		file, err := parser.ParseFile(fset, f.path, f.data, parser.SkipObjectResolution)
		if err != nil {
			return nil, fmt.Errorf("template %s: %w", f.path, err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			if id, ok := n.(*ast.Ident); ok && !strings.Contains(id.Name, placeholderName) {
				idents[id.Name] = true
			}
			return true
		})
		for _, imp := range file.Imports {
			// Imports are named in the code where they are used, so the
			// identifiers have them already; the last path element also
			// covers a package imported only for its side effects.
			path := strings.Trim(imp.Path.Value, `"`)
			idents[path[strings.LastIndex(path, "/")+1:]] = true
		}
	}
	return idents, nil
}
