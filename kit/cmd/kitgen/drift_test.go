package main_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The product service is the model the templates follow: what the generator
// makes is what users copy, so it must be built from the same kit pieces as
// the hand-written services.
const (
	modelService = "product"
	kitPrefix    = "github.com/kitshop/kitshop/kit/"
	appPackage   = kitPrefix + "app"
)

// layerFiles are the files of a service that both the model and the
// templates have, relative to the service's directory; NAME is the
// service's name.
var layerFiles = []string{
	"service.go",
	"endpoint.go",
	"middleware.go",
	"transport_http.go",
	"transport_grpc.go",
	"postgres.go",
	"cmd/NAME/main.go",
	"cmd/NAME/flags.go",
	"cmd/NAME/main_test.go",
}

// modelOnly are the kit packages the model imports for what it has and the
// generated service has not, with the reason. Any other kit package the
// model's file imports and the generated one does not is a piece the
// template has not caught up with.
var modelOnly = map[string]map[string]string{
	"service.go":  {kitPrefix + "errs": "an empty patch is Invalid (Update)"},
	"endpoint.go": {kitPrefix + "errs": "the stock API's ServiceOrAdmin rule"},
	"transport_http.go": {
		kitPrefix + "errs": "the point read encodes its body itself (the hottest read), and a time it cannot encode is Internal",
	},
	"middleware.go": {kitPrefix + "validate": "validate.LogID: the audit line of Update and Delete names the id sent"},
	"cmd/NAME/main.go": {
		kitPrefix + "logging":  "the hottest reads log at debug level",
		kitPrefix + "postgres": "the read cache listens for changes",
	},
	"cmd/NAME/main_test.go": {
		kitPrefix + "grpcx":     "the stock API's calls over gRPC",
		kitPrefix + "requestid": "request ids through the stock API",
	},
}

// maxCmdLines bounds each file of the generated command: it is wiring, and
// kit/app holds the rest.
const maxCmdLines = 150

// TestTemplatesFollowModel generates a service and compares each layer file
// with the product service's: the file exists in product too, every kit
// package the generated file imports is one product's file imports (so a
// template that still uses a kit piece product has left is named), every
// kit package product's file imports is imported by the generated file too
// unless modelOnly explains why not (so a template that lags behind a kit
// piece product has adopted is named), and both commands start with
// app.Main and build with app.New.
func TestTemplatesFollowModel(t *testing.T) {
	dir := copyRepo(t)
	const name = "drift"
	if r := kitgen(t, dir, nil, "new", name); r.err != nil {
		t.Fatalf("kitgen new %s: %v\n%s", name, r.err, r.stderr)
	}
	for _, rel := range layerFiles {
		template := "templates/files/NAME/" + rel + ".tmpl"
		generatedPath := filepath.Join(dir, name, filepath.FromSlash(strings.ReplaceAll(rel, "NAME", name)))
		modelPath := filepath.Join(dir, modelService, filepath.FromSlash(strings.ReplaceAll(rel, "NAME", modelService)))
		generated := parseFile(t, generatedPath)
		if generated == nil {
			t.Errorf("%s: kitgen did not generate %s", template, rel)
			continue
		}
		model := parseFile(t, modelPath)
		if model == nil {
			t.Errorf("%s: %s has no %s: the layout of the model changed; update the templates and layerFiles",
				template, modelService, strings.ReplaceAll(rel, "NAME", modelService))
			continue
		}
		genKit, modelKit := kitImports(generated), kitImports(model)
		for _, p := range genKit {
			if !slices.Contains(modelKit, p) {
				t.Errorf("%s imports %s, which %s/%s no longer does: port the template to what product uses now",
					template, p, modelService, strings.ReplaceAll(rel, "NAME", modelService))
			}
		}
		for _, p := range modelKit {
			if _, why := modelOnly[rel][p]; !why && !slices.Contains(genKit, p) {
				t.Errorf("%s does not import %s, which %s/%s does: port the template to it, or say in modelOnly why the generated service has no use for it",
					template, p, modelService, strings.ReplaceAll(rel, "NAME", modelService))
			}
		}
		if strings.HasPrefix(rel, "cmd/") && !strings.HasSuffix(rel, "_test.go") {
			if n := countLines(t, generatedPath); n > maxCmdLines {
				t.Errorf("%s renders to %d lines, want at most %d: the command is wiring, kit/app has the rest", template, n, maxCmdLines)
			}
		}
		if rel == "cmd/NAME/main.go" {
			for _, f := range []struct {
				file *ast.File
				what string
			}{{model, modelService + "/cmd/" + modelService + "/main.go"}, {generated, template}} {
				calls := appCalls(f.file)
				for _, want := range []string{"Main", "New"} {
					if !calls[want] {
						t.Errorf("%s does not call app.%s (kit/app): the commands must start the same way", f.what, want)
					}
				}
			}
		}
	}
}

// parseFile parses the Go file at path, or returns nil if there is none.
func parseFile(t *testing.T, path string) *ast.File {
	t.Helper()
	src, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	f, err := parser.ParseFile(token.NewFileSet(), path, src, 0)
	if err != nil {
		t.Fatalf("parsing %s: %v", path, err)
	}
	return f
}

// kitImports returns the kit packages f imports, sorted.
func kitImports(f *ast.File) []string {
	var out []string
	for _, spec := range f.Imports {
		p, err := strconv.Unquote(spec.Path.Value)
		if err == nil && strings.HasPrefix(p, kitPrefix) {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

// appCalls returns the names of the kit/app functions f calls, under
// whatever name f imports the package.
func appCalls(f *ast.File) map[string]bool {
	local := ""
	for _, spec := range f.Imports {
		if p, _ := strconv.Unquote(spec.Path.Value); p == appPackage {
			local = "app"
			if spec.Name != nil {
				local = spec.Name.Name
			}
		}
	}
	calls := map[string]bool{}
	if local == "" {
		return calls
	}
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		if sel, ok := call.Fun.(*ast.SelectorExpr); ok {
			if id, ok := sel.X.(*ast.Ident); ok && id.Name == local {
				calls[sel.Sel.Name] = true
			}
		}
		return true
	})
	return calls
}

func countLines(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), "\n")
}
