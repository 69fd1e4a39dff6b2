package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-kit/log"

	"github.com/kitshop/kitshop/internal/testenv"
	"github.com/kitshop/kitshop/kit/consul"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		want    func(settings) bool
		wantErr string
	}{
		{name: "defaults", want: func(s settings) bool {
			return s.httpAddr == ":8080" && s.consulAddr == "127.0.0.1:8500" && s.rateLimit == 100 && s.rateBurst == 200 &&
				s.upstreamTimeout == 10*time.Second && s.logFormat == "logfmt" && s.drainTimeout == 15*time.Second && !s.trustForwardedFor
		}},
		{name: "flags", args: []string{"-http-addr", "127.0.0.1:0", "-rate-limit", "2.5", "-upstream-timeout", "3s", "-log-format", "json"},
			want: func(s settings) bool {
				return s.httpAddr == "127.0.0.1:0" && s.rateLimit == 2.5 && s.upstreamTimeout == 3*time.Second && s.logFormat == "json"
			}},
		{name: "environment", env: map[string]string{"GATEWAY_RATE_BURST": "7", "GATEWAY_CONSUL_ADDR": "consul:8500"},
			want: func(s settings) bool { return s.rateBurst == 7 && s.consulAddr == "consul:8500" }},
		{name: "flag beats environment", args: []string{"-rate-burst", "9"}, env: map[string]string{"GATEWAY_RATE_BURST": "7"},
			want: func(s settings) bool { return s.rateBurst == 9 }},
		{name: "rate limit off", args: []string{"-rate-limit", "0"}, want: func(s settings) bool { return s.rateLimit == 0 }},
		{name: "bad environment value", env: map[string]string{"GATEWAY_UPSTREAM_TIMEOUT": "soon"}, wantErr: "GATEWAY_UPSTREAM_TIMEOUT"},
		{name: "unknown flag", args: []string{"-verbose"}, wantErr: "flag provided but not defined"},
		{name: "stray argument", args: []string{"serve"}, wantErr: "unexpected arguments"},
		{name: "negative rate", args: []string{"-rate-limit", "-1"}, wantErr: "-rate-limit"},
		{name: "zero burst", args: []string{"-rate-burst", "0"}, wantErr: "-rate-burst"},
		{name: "zero timeout", args: []string{"-upstream-timeout", "0s"}, wantErr: "-upstream-timeout"},
		{name: "bad log format", args: []string{"-log-format", "xml"}, wantErr: "-log-format"},
		{name: "no consul", args: []string{"-consul-addr", ""}, wantErr: "-consul-addr"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			got, err := parse(tt.args, io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parse error = %v, want it to mention %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if !tt.want(got) {
				t.Errorf("parse(%q) = %+v", tt.args, got)
			}
		})
	}
}

func TestRunHelp(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), []string{"-h"}, &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Errorf("run -h = %v, want flag.ErrHelp", err)
	}
	if !strings.Contains(out.String(), "-upstream-timeout") {
		t.Errorf("usage does not list the flags:\n%s", out.String())
	}
}

// TestRun starts the real program against a real Consul: it becomes ready
// once it has the routes, routes a registered service by its prefix, and
// shuts down when its context ends.
func TestRun(t *testing.T) {
	consulAddr := testenv.Consul(t).Addr()
	client, err := consul.NewClient(consulAddr)
	if err != nil {
		t.Fatal(err)
	}
	name := "cmdtest-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello from "+r.URL.Path)
	}))
	t.Cleanup(upstream.Close)
	_, port, _ := net.SplitHostPort(upstream.Listener.Addr().String())
	p, _ := strconv.Atoi(port)
	reg := consul.NewRegistrar(client, consul.Registration{Name: name, Address: "127.0.0.1", HTTPPort: p,
		APIPrefix: "/api/v1/" + name, CheckInterval: time.Second}, log.NewNopLogger())
	regCtx, cancelReg := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancelReg()
	if err := reg.Register(regCtx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Deregister(context.Background()) })

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logs := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-http-addr", "127.0.0.1:0", "-consul-addr", consulAddr, "-drain-timeout", "2s"}, logs)
	}()
	addr := waitFor(t, logs, done, regexp.MustCompile(`msg=listening transport=http addr=(\S+)`))
	base := "http://" + addr

	if status, _ := get(t, base+"/healthz"); status != http.StatusOK {
		t.Errorf("/healthz = %d, want 200", status)
	}
	eventually(t, "ready", func() bool { status, _ := get(t, base+"/readyz"); return status == http.StatusOK })
	eventually(t, "service routed", func() bool {
		status, body := get(t, base+"/api/v1/"+name+"/42")
		return status == http.StatusOK && body == "hello from /api/v1/"+name+"/42"
	})
	if status, _ := get(t, base+"/api/v1/nothing-here"); status != http.StatusNotFound {
		t.Errorf("unknown prefix = %d, want 404", status)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run returned %v after shutdown, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after its context ended")
	}
	if !strings.Contains(logs.String(), "msg=stopped") {
		t.Errorf("no shutdown logged:\n%s", logs)
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitFor waits until the logs match re and returns the first submatch,
// failing early if run returns.
func waitFor(t *testing.T, logs *syncBuffer, done <-chan error, re *regexp.Regexp) string {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		if m := re.FindStringSubmatch(logs.String()); m != nil {
			return m[1]
		}
		select {
		case err := <-done:
			t.Fatalf("run returned early: %v\nlogs:\n%s", err, logs)
		case <-deadline:
			t.Fatalf("no log line matching %s:\n%s", re, logs)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
