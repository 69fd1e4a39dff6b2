// Package grpcx builds gRPC servers and clients that speak kitshop's error
// vocabulary.
//
// Use NewServer instead of grpc.NewServer and Dial instead of grpc.NewClient
// in every service and client. A handler then returns *errs.Error values, the
// server turns them into status codes with details (errs.ToGRPC), and the
// client turns them back (errs.FromGRPC): a NotFound raised by the product
// service is an errs.NotFound with the same message in the caller, with its
// field errors and retry hint intact. Panics become Internal errors instead of
// killing the process, request ids travel in metadata, and the causes of
// Internal and Unavailable errors are logged on the server, never sent.
package grpcx
