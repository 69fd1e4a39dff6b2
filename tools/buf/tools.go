//go:build tools

// Package tools pins the buf CLI (protobuf lint and breaking-change checks)
// in a module of its own, so its many dependencies stay out of kitshop's
// go.mod. The Makefile builds it with `go build` from this folder.
package tools

import _ "github.com/bufbuild/buf/cmd/buf"
