// Package kitctl is the kitctl command line (kit/cmd/kitctl): a cobra
// command tree over Consul (services, describe, health, config), the
// services' gRPC server reflection (describe, call; decoding by
// github.com/jhump/protoreflect/v2 and protojson), the gateway (login) and
// NATS JetStream (events tail, events dlq).
//
// Every command writes text for people or, with --output json, JSON for
// scripts; errors carry their kit/errs kind. Addresses come from flags,
// the environment (KITCTL_CONSUL, KITCTL_NATS, KITCTL_GATEWAY) or the
// local stack's defaults, so tests point kitctl at a stack on free ports.
//
// The live configuration commands check values with SchemaFor, the same
// liveconfig.Schema the services apply, so a value kitctl accepts is one
// the services take.
package kitctl
