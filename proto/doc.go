// Package proto holds kitshop's protocol buffer definitions and the Go code
// generated from them, one directory per API and version
// (product/v1/product.proto → package productv1).
//
// The generated *.pb.go files are committed so that building kitshop needs
// only the Go toolchain. They are produced by protoc with the plugins pinned
// in go.mod's tool directives:
//
//	go build -o bin/ google.golang.org/protobuf/cmd/protoc-gen-go google.golang.org/grpc/cmd/protoc-gen-go-grpc
//	protoc -I proto --plugin=protoc-gen-go=bin/protoc-gen-go --plugin=protoc-gen-go-grpc=bin/protoc-gen-go-grpc \
//	    --go_out=paths=source_relative:proto --go-grpc_out=paths=source_relative:proto product/v1/product.proto
//
// (make proto). The test in this package regenerates everything into a
// temporary directory and fails if the committed files are stale.
package proto
