package validate_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kitshop/kitshop/deploy/validate"
)

const dockerfilePath = "deploy/docker/Dockerfile"

func dockerfile(t *testing.T) *validate.Dockerfile {
	t.Helper()
	d, err := validate.ParseDockerfile(bytes.NewReader(readFile(t, dockerfilePath)))
	if err != nil {
		t.Fatalf("%s: %v", dockerfilePath, err)
	}
	return d
}

func TestDockerfileBaseImagesPinned(t *testing.T) {
	d := dockerfile(t)
	for i, s := range d.Stages {
		t.Run(strconv.Itoa(i)+"-"+s.Base, func(t *testing.T) {
			if _, ok := d.StageNamed(s.Base); ok {
				// An earlier stage; check it is earlier.
				for _, prev := range d.Stages[:i] {
					if strings.EqualFold(prev.Name, s.Base) {
						return
					}
				}
				t.Fatalf("line %d: FROM %s names a later stage", s.Line, s.Base)
			}
			base, ok := d.DefaultBase(s)
			if !ok {
				t.Fatalf("line %d: FROM %s: a variable base image without a global ARG default cannot be checked", s.Line, s.Base)
			}
			if !validate.ImagePinned(base) {
				t.Errorf("line %d: FROM %s (%s by default) is not pinned to a version tag or digest", s.Line, s.Base, base)
			}
		})
	}
}

// The runtime image holds the binaries and nothing to build or install
// with, and runs as an unprivileged numeric user (Kubernetes' runAsNonRoot
// can only verify a numeric one).
func TestDockerfileFinalStage(t *testing.T) {
	d := dockerfile(t)
	final := d.Final()
	var user, entrypoint *validate.Instruction
	copied := map[string]bool{}
	for i, in := range final.Instructions {
		switch in.Cmd {
		case "RUN", "ADD", "ONBUILD":
			t.Errorf("line %d: %s in the final stage (it has no shell, and must fetch nothing)", in.Line, in.Cmd)
		case "USER":
			user = &final.Instructions[i]
		case "ENTRYPOINT":
			entrypoint = &final.Instructions[i]
		case "COPY":
			from, ok := in.Flag("from")
			if !ok {
				t.Errorf("line %d: COPY from the build context into the runtime image; copy from a build stage", in.Line)
			}
			fields := strings.Fields(in.Args)
			for _, src := range fields[:len(fields)-1] {
				copied[src] = true
				if buildToolRE.MatchString(src) {
					t.Errorf("line %d: COPY --from=%s %s brings build tools into the runtime image", in.Line, from, src)
				}
			}
		}
	}
	if final.Base != "scratch" && !strings.Contains(final.Base, "distroless") {
		t.Errorf("final stage FROM %s: want scratch or a distroless static image", final.Base)
	}
	if !copied["/etc/ssl/certs/ca-certificates.crt"] {
		t.Error("the final stage does not copy /etc/ssl/certs/ca-certificates.crt")
	}

	if user == nil {
		t.Fatal("the final stage has no USER")
	}
	uid, gid, hasGID := strings.Cut(user.Args, ":")
	for _, id := range []string{uid, gid} {
		if id == "" && hasGID {
			t.Errorf("USER %s: empty id", user.Args)
		}
		if id == "" {
			continue
		}
		n, err := strconv.Atoi(id)
		if err != nil || n <= 0 {
			t.Errorf("USER %s: want numeric non-root ids", user.Args)
		}
	}
	if !hasGID {
		t.Errorf("USER %s: want uid:gid, so the group is not root's either", user.Args)
	}

	if entrypoint == nil {
		t.Fatal("the final stage has no ENTRYPOINT")
	}
	args, ok := entrypoint.ExecForm()
	if !ok || len(args) == 0 {
		t.Fatalf("ENTRYPOINT %s: want the exec form (there is no shell)", entrypoint.Args)
	}
	if !copied[filepathFromStage(t, final, args[0])] {
		t.Errorf("ENTRYPOINT %s is not a file the final stage copies", args[0])
	}
}

// buildToolRE matches paths of toolchains and package managers.
var buildToolRE = regexp.MustCompile(`(^|/)(go|gcc|cc|apt|apt-get|apk|dpkg|make|git|sh|bash)(/|$)|/usr/local/go`)

// filepathFromStage maps a path in the final image to the source a COPY
// put there.
func filepathFromStage(t *testing.T, s validate.Stage, dst string) string {
	t.Helper()
	for _, in := range s.Instructions {
		if in.Cmd != "COPY" {
			continue
		}
		fields := strings.Fields(in.Args)
		if fields[len(fields)-1] == dst && len(fields) == 2 {
			return fields[0]
		}
	}
	return ""
}

// The build stage makes static, reproducible binaries: no cgo (scratch has
// no libc), no local paths, no symbol tables.
func TestDockerfileBuildFlags(t *testing.T) {
	d := dockerfile(t)
	var runs, env strings.Builder
	for _, s := range d.Stages[:len(d.Stages)-1] {
		for _, in := range s.Instructions {
			switch in.Cmd {
			case "RUN":
				runs.WriteString(in.Args + "\n")
			case "ENV":
				env.WriteString(in.Args + "\n")
			}
		}
	}
	if !strings.Contains(env.String(), "CGO_ENABLED=0") {
		t.Error("no ENV CGO_ENABLED=0 in the build stages")
	}
	for _, want := range []string{
		"go build -trimpath -ldflags='-s -w' -o /out/healthcheck ./deploy/cmd/healthcheck",
		`go build -trimpath -ldflags="-s -w -X $v.Version=$VERSION -X $v.Commit=$REVISION -X $v.BuildTime=$CREATED" -o /out/service "./$SERVICE/cmd/$SERVICE"`,
		"v=github.com/kitshop/kitshop/kit/version;",
	} {
		if !strings.Contains(runs.String(), want) {
			t.Errorf("no RUN %s", want)
		}
	}
}

// The image says what it is with the OCI annotations: the build arguments
// that name the build reach the labels, and the service binary (above).
func TestDockerfileLabels(t *testing.T) {
	d := dockerfile(t)
	var labels strings.Builder
	for _, in := range d.Final().Instructions {
		if in.Cmd == "LABEL" {
			labels.WriteString(in.Args + "\n")
		}
	}
	for _, want := range []string{
		`org.opencontainers.image.title="kitshop-${SERVICE}"`,
		`org.opencontainers.image.source="https://github.com/kitshop/kitshop"`,
		`org.opencontainers.image.licenses="Apache-2.0"`,
		`org.opencontainers.image.version="${VERSION}"`,
		`org.opencontainers.image.revision="${REVISION}"`,
		`org.opencontainers.image.created="${CREATED}"`,
	} {
		if !strings.Contains(labels.String(), want) {
			t.Errorf("no LABEL %s in the final stage", want)
		}
	}
}

func TestDockerignore(t *testing.T) {
	root := repoRoot(t)
	ignore, err := validate.LoadDockerignore(filepath.Join(root, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path string
		want bool // excluded
	}{
		{".git/HEAD", true},
		{".git", true},
		{"bin/product", true},
		{".run/logs/product.log", true},
		{"deploy/validate/go.mod", true},
		{"deploy/compose/secrets/product_db_password", true},
		{"deploy/k8s/overlays/local/signing-key.pem", true},
		{"docker-compose.yml", true},
		{"tools/consul/go.mod", true},
		{"kit/config/config_test.go", true},
		{"go.mod", false},
		{"go.sum", false},
		{"deploy/cmd/healthcheck/main.go", false},
		{"product/cmd/product/main.go", false},
		{"kit/config/config.go", false},
		{"migrations/product/00001_products.sql", false},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			got, err := ignore.Excluded(tt.path)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("Excluded(%q) = %v, want %v", tt.path, got, tt.want)
			}
		})
	}
}

// TestDockerContextBuilds compiles every command the Dockerfile builds from
// a copy of exactly the files .dockerignore lets into the build context, so
// a file the build needs (a new package, an embedded migration) cannot be
// ignored by mistake. It uses the local Go toolchain and build cache
// instead of Docker.
func TestDockerContextBuilds(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go not on PATH: %v", err)
	}
	root := repoRoot(t)
	ignore, err := validate.LoadDockerignore(filepath.Join(root, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	files, err := ignore.ContextFiles(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.HasPrefix(f, "deploy/compose/secrets/") || strings.HasSuffix(f, ".pem") {
			t.Errorf("%s is in the build context", f)
		}
	}
	dir := t.TempDir()
	for _, f := range files {
		copyFile(t, filepath.Join(root, filepath.FromSlash(f)), filepath.Join(dir, "src", filepath.FromSlash(f)))
	}

	pkgs := []string{"./deploy/cmd/healthcheck", "./kit/..."}
	c := compose(t)
	seen := map[string]bool{}
	for _, app := range appServices(t, c) {
		if !seen[app.service] {
			seen[app.service] = true
			pkgs = append(pkgs, "./"+app.service+"/cmd/"+app.service)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goTool, append([]string{"build", "-o", os.DevNull}, pkgs...)...)
	cmd.Dir = filepath.Join(dir, "src")
	cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local", "GOWORK=off", "GOFLAGS=-mod=readonly -buildvcs=false")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go build %s in the build context: %v\n%s", strings.Join(pkgs, " "), err, out)
	}
	if !slices.Contains(pkgs, "./product/cmd/product") {
		t.Errorf("built %q: the product command is missing", pkgs)
	}
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}
