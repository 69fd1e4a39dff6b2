package validate_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/kitshop/kitshop/deploy/validate"
)

func TestParseDockerfile(t *testing.T) {
	tests := []struct {
		name    string
		src     string
		check   func(t *testing.T, d *validate.Dockerfile)
		wantErr string
	}{
		{name: "stages, flags, continuations and comments",
			src: `# syntax=docker/dockerfile:1
ARG GO=1.26.8
FROM --platform=$BUILDPLATFORM golang:${GO} AS build
RUN go build \
    # a comment inside the continuation
    -o /out/x \

    ./cmd/x
FROM scratch
COPY --from=build --chown=1:1 /out/x /x
ENTRYPOINT ["/x", "-v"]
`,
			check: func(t *testing.T, d *validate.Dockerfile) {
				if len(d.GlobalArgs) != 1 || d.GlobalArgs[0].Args != "GO=1.26.8" {
					t.Errorf("global args = %+v", d.GlobalArgs)
				}
				if len(d.Stages) != 2 || d.Stages[0].Name != "build" || d.Stages[0].Platform != "$BUILDPLATFORM" || d.Stages[0].Base != "golang:${GO}" {
					t.Fatalf("stages = %+v", d.Stages)
				}
				run := d.Stages[0].Instructions[0]
				if run.Cmd != "RUN" || strings.Join(strings.Fields(run.Args), " ") != "go build -o /out/x ./cmd/x" || run.Line != 4 {
					t.Errorf("run = %+v", run)
				}
				cp := d.Final().Instructions[0]
				if from, _ := cp.Flag("from"); from != "build" || cp.Args != "/out/x /x" {
					t.Errorf("copy = %+v", cp)
				}
				if _, ok := d.StageNamed("BUILD"); !ok {
					t.Error("StageNamed is case-sensitive; Docker's stage names are not")
				}
				args, ok := d.Final().Instructions[1].ExecForm()
				if !ok || !slices.Equal(args, []string{"/x", "-v"}) {
					t.Errorf("entrypoint exec form = %q, %v", args, ok)
				}
			}},
		{name: "escape directive",
			src: "# escape=`\nFROM alpine:3.20\nRUN echo a `\n  b\n",
			check: func(t *testing.T, d *validate.Dockerfile) {
				if got := d.Final().Instructions[0].Args; strings.Join(strings.Fields(got), " ") != "echo a b" {
					t.Errorf("args = %q", got)
				}
			}},
		{name: "shell form is not exec form",
			src: "FROM scratch\nENTRYPOINT /x -v\n",
			check: func(t *testing.T, d *validate.Dockerfile) {
				if _, ok := d.Final().Instructions[0].ExecForm(); ok {
					t.Error("shell form taken for exec form")
				}
			}},
		{name: "no FROM", src: "# nothing\n", wantErr: "no FROM"},
		{name: "instruction before FROM", src: "RUN true\nFROM scratch\n", wantErr: "RUN before the first FROM"},
		{name: "dangling continuation", src: "FROM scratch\nCOPY a \\\n", wantErr: "ends inside a continued instruction"},
		{name: "heredoc", src: "FROM alpine:3.20\nRUN <<EOF\necho\nEOF\n", wantErr: "heredocs are not supported"},
		{name: "bad FROM", src: "FROM a b c d\n", wantErr: "want FROM image [AS name]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := validate.ParseDockerfile(strings.NewReader(tt.src))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, d)
		})
	}
}

func TestImagePinned(t *testing.T) {
	tests := []struct {
		ref  string
		want bool
	}{
		{"golang:1.26.8-bookworm", true},
		{"postgres:15.13-bookworm", true},
		{"prom/prometheus:v2.55.1", true},
		{"hashicorp/consul:1.15.4", true},
		{"registry.example.com:5000/team/app:1.2", true},
		{"golang@sha256:" + strings.Repeat("a", 64), true},
		{"scratch", true},
		{"golang", false},
		{"golang:latest", false},
		{"golang:bookworm", false},
		{"gcr.io/distroless/static-debian12:nonroot", false},
		{"registry.example.com:5000/team/app", false},
		{"golang@sha256:abc", false},
	}
	for _, tt := range tests {
		if got := validate.ImagePinned(tt.ref); got != tt.want {
			t.Errorf("ImagePinned(%q) = %v, want %v", tt.ref, got, tt.want)
		}
	}
}

func TestDefaultBase(t *testing.T) {
	tests := []struct {
		name   string
		src    string
		want   string
		wantOK bool
	}{
		{"literal", "FROM golang:1.26.8-bookworm\n", "golang:1.26.8-bookworm", true},
		{"braced arg", "ARG GO_IMAGE=golang:1.26.8-bookworm\nFROM ${GO_IMAGE} AS build\n", "golang:1.26.8-bookworm", true},
		{"bare arg in a tag", "ARG V=\"1.26.8\"\nFROM golang:$V-bookworm\n", "golang:1.26.8-bookworm", true},
		{"no default", "ARG GO_IMAGE\nFROM ${GO_IMAGE}\n", "", false},
		{"not global", "FROM ${GO_IMAGE}\n", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := validate.ParseDockerfile(strings.NewReader(tt.src))
			if err != nil {
				t.Fatal(err)
			}
			got, ok := d.DefaultBase(d.Stages[0])
			if ok != tt.wantOK || (ok && got != tt.want) {
				t.Errorf("DefaultBase = %q, %v; want %q, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}
