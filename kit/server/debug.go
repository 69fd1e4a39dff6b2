package server

import (
	"net"
	"net/http"
	"net/http/pprof"
)

// DebugHandler serves the runtime profiles of net/http/pprof under
// /debug/pprof/ (the index, cmdline, profile, symbol, trace and every named
// profile such as heap, allocs, goroutine and mutex), on a mux of its own:
// nothing else is reachable through it, and it is never mounted on the
// public port. Run serves it on Config.DebugListener.
//
//	go tool pprof http://127.0.0.1:6060/debug/pprof/profile?seconds=20
//	go tool pprof http://127.0.0.1:6060/debug/pprof/allocs
func DebugHandler() http.Handler {
	mux := http.NewServeMux()
	// The paths net/http/pprof registers on http.DefaultServeMux, which is
	// never served here.
	mux.HandleFunc("/debug/pprof/", pprof.Index) // and the named profiles: heap, allocs, goroutine, …
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// metricsHandler serves m at GET /metrics and nothing else, for
// Config.MetricsListener.
func metricsHandler(m http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET "+pathMetrics, m)
	return mux
}

// ListenInternal opens a listener for an address only operators and
// Prometheus reach, such as Config.MetricsListener's (a command's
// -metrics-addr flag): "" means none and returns a nil listener and no
// error.
func ListenInternal(addr string) (net.Listener, error) { return ListenDebug(addr) }

// ListenDebug opens the listener for Config.DebugListener, for a command's
// -debug-addr flag: "" (the default) means no debug server and returns a
// nil listener and no error. Give a loopback address ("127.0.0.1:6060") unless
// the port is firewalled: the profiles are for operators only.
func ListenDebug(addr string) (net.Listener, error) {
	if addr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	return ln, nil
}
