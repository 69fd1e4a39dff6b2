//go:build unix

package gateway

import (
	"net"
	"syscall"
)

// connAlive reports whether an idle connection still looks usable: a
// non-blocking peek at the socket finds nothing to read. End of stream means
// the instance closed it; data means it sent something unasked; either way
// the connection must not carry another request.
func connAlive(conn net.Conn) bool {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return true
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	alive := false
	err = raw.Read(func(fd uintptr) bool {
		var b [1]byte
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		alive = n < 0 && (err == syscall.EAGAIN || err == syscall.EWOULDBLOCK)
		return true // never wait for readiness
	})
	return err == nil && alive
}
