// Command kitctl is the operator's command line of a kitshop deployment:
// the services in Consul, gRPC calls by name, health, the live
// configuration, and the event broker's dead letters. The commands live in
// internal/kitctl; run kitctl --help for them.
package main
