package server_test

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/go-kit/log"

	"github.com/kitshop/kitshop/internal/testlog"
	"github.com/kitshop/kitshop/kit/server"
)

// TestRunDebugListener checks the profiles are served on the debug
// listener only, never on the public port, and that the debug listener is
// closed at shutdown.
func TestRunDebugListener(t *testing.T) {
	httpLn, debugLn := listen(t), listen(t)
	public, debug := "http://"+httpLn.Addr().String(), "http://"+debugLn.Addr().String()
	var logs testlog.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() {
		ran <- server.Run(ctx, server.Config{Name: "svc", Logger: log.NewLogfmtLogger(&logs),
			HTTPListener: httpLn, DebugListener: debugLn})
	}()
	waitFor(t, func() bool { return probe(public+"/readyz") == 200 })

	tests := []struct {
		url  string
		want int
	}{
		{debug + "/debug/pprof/", 200},
		{debug + "/debug/pprof/heap", 200},
		{debug + "/debug/pprof/cmdline", 200},
		{public + "/debug/pprof/", 404}, // never on the public port
		{public + "/debug/pprof/heap", 404},
		{debug + "/healthz", 404}, // and nothing but profiles on the debug one
		{debug + "/", 404},
	}
	for _, tt := range tests {
		if got := probe(tt.url); got != tt.want {
			t.Errorf("GET %s = %d, want %d", tt.url, got, tt.want)
		}
	}
	if want := "transport=debug addr=" + debugLn.Addr().String(); !strings.Contains(logs.String(), want) {
		t.Errorf("logs lack %q:\n%s", want, logs.String())
	}

	cancel()
	if err := <-ran; err != nil {
		t.Fatalf("Run = %v", err)
	}
	if got := probe(debug + "/debug/pprof/"); got != -1 {
		t.Errorf("debug server still answers after shutdown: %d", got)
	}
}

func TestListenDebug(t *testing.T) {
	ln, err := server.ListenDebug("")
	if err != nil || ln != nil {
		t.Errorf(`ListenDebug("") = %v, %v; want no listener and no error`, ln, err)
	}
	ln, err = server.ListenDebug("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if addr, ok := ln.Addr().(*net.TCPAddr); !ok || !addr.IP.IsLoopback() || addr.Port == 0 {
		t.Errorf("listening on %v, want a loopback port", ln.Addr())
	}
	if _, err := server.ListenDebug("127.0.0.1:bad"); err == nil {
		t.Error(`ListenDebug("127.0.0.1:bad") = nil error`)
	}
}
