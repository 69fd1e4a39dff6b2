//go:build !unix

package gateway

import "net"

// connAlive cannot peek at a socket without blocking here; a closed
// connection is found when a request fails on it (and is then retried when
// that is safe, see Upstream).
func connAlive(net.Conn) bool { return true }
