package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
)

// generateProto runs protoc on the .proto files among files, the way `make
// proto` does (same plugins, from go.mod's tool directives, same options),
// in a temporary directory, and returns the generated Go files as files of
// the plan under proto/. proto/proto_test.go regenerates everything with
// -I proto and must find the same bytes, which it does: the only import is
// a well-known type, and paths are relative to the include directory either
// way.
func generateProto(root string, files []file) ([]file, error) {
	var sources []file
	for _, f := range files {
		if strings.HasPrefix(f.path, "proto/") && strings.HasSuffix(f.path, ".proto") {
			sources = append(sources, f)
		}
	}
	if len(sources) == 0 {
		return nil, nil
	}
	protoc, err := exec.LookPath("protoc")
	if err != nil {
		return nil, errors.New("protoc not found in PATH: install it (make deps-protoc, or apt-get install protobuf-compiler) and run kitgen again; nothing was written")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		return nil, errors.New("the go command is not in PATH: kitgen builds the protoc plugins with it; nothing was written")
	}
	tmp, err := os.MkdirTemp("", "kitgen-proto-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)

	plugins := filepath.Join(tmp, "bin")
	build := exec.Command(goTool, "build", "-o", plugins+string(filepath.Separator),
		"google.golang.org/protobuf/cmd/protoc-gen-go",
		"google.golang.org/grpc/cmd/protoc-gen-go-grpc")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("building the protoc plugins (go.mod tool directives): %v\n%s", err, out)
	}

	in, out := filepath.Join(tmp, "proto"), filepath.Join(tmp, "out")
	args := []string{
		"-I", in,
		"--plugin=protoc-gen-go=" + filepath.Join(plugins, "protoc-gen-go"),
		"--plugin=protoc-gen-go-grpc=" + filepath.Join(plugins, "protoc-gen-go-grpc"),
		"--go_out=paths=source_relative:" + out,
		"--go-grpc_out=paths=source_relative:" + out,
	}
	for _, src := range sources {
		rel := strings.TrimPrefix(src.path, "proto/")
		dst := filepath.Join(in, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(dst, src.data, 0o644); err != nil {
			return nil, err
		}
		args = append(args, rel)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, err
	}
	gen := exec.Command(protoc, args...)
	gen.Dir = root
	if msg, err := gen.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("protoc: %v\n%s", err, msg)
	}

	var generated []file
	err = filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(out, p)
		if err != nil {
			return err
		}
		generated = append(generated, file{path: path.Join("proto", filepath.ToSlash(rel)), data: b, perm: 0o644})
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(generated) == 0 {
		return nil, errors.New("protoc generated no files")
	}
	return generated, nil
}
