// Package consul is kitshop's service discovery on HashiCorp Consul.
//
// A service registers itself and finds the others through the local Consul
// agent. Consul decides who is healthy by running two checks against every
// instance: an HTTP GET of /readyz and a gRPC health check. An instance that
// is not ready is not passing, and only passing instances are ever handed out.
//
// Which piece to use:
//
//   - Registrar, in every service's main (it implements server.Registrar).
//     Register blocks, retrying with backoff, until the agent accepts the
//     registration, so a service may start before Consul. It then keeps
//     checking that the agent still knows the instance and registers again
//     after a Consul restart. Deregister ends that and removes the instance.
//   - Watcher, on the calling side: one per dependency. It follows the
//     passing instances of one service with blocking queries, keeps the last
//     known set while Consul is unreachable and, for a grace period, the
//     instances a restarted Consul has not heard from again yet (a Consul
//     blip must not empty the load balancer), and hands out sorted snapshots
//     by Instances or Subscribe.
//   - RoundRobin, to pick one instance from a snapshot per request, skipping
//     the ones a caller wants to avoid (for example while retrying).
//   - NewInstancer, when go-kit's sd.NewEndpointer and lb balancers should do
//     the picking: it adapts a Watcher to sd.Instancer, choosing the HTTP or
//     gRPC address of every instance.
//   - ServicesWatcher, for the gateway: it follows the names of all services
//     with a tag (TagAPI for services that expose a public HTTP API), so new
//     services are routed without a restart; like Watcher, it keeps the
//     names a restarted Consul does not list yet, so no route vanishes.
//
// Everything talks to Consul through Client, a narrow interface over the
// official github.com/hashicorp/consul/api package, so tests can replace it.
// Everything that starts a goroutine has a Stop (or Deregister) that ends it.
package consul
