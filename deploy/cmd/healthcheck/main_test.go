package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/kitshop/kitshop/kit/version"
)

func TestRun(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte(`{"status":"ready"}`)) })
	mux.HandleFunc("/created", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	mux.HandleFunc("/unready", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, `{"status":"not_ready"}`, http.StatusServiceUnavailable)
	})
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/ok", http.StatusFound) })
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	// A port nothing listens on: a closed server's address.
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()

	tests := []struct {
		name       string
		args       []string
		want       int
		wantStderr string // substring; "" means empty stderr
	}{
		{name: "200", args: []string{srv.URL + "/ok"}, want: 0},
		{name: "204", args: []string{srv.URL + "/created"}, want: 0},
		{name: "503", args: []string{srv.URL + "/unready"}, want: 1, wantStderr: "503 Service Unavailable"},
		{name: "404", args: []string{srv.URL + "/nope"}, want: 1, wantStderr: "404 Not Found"},
		{name: "redirect not followed", args: []string{srv.URL + "/redirect"}, want: 1, wantStderr: "302 Found"},
		{name: "timeout", args: []string{"-timeout", "100ms", srv.URL + "/slow"}, want: 1, wantStderr: "no answer within 100ms"},
		{name: "connection refused", args: []string{closedURL + "/readyz"}, want: 1, wantStderr: "refused"},
		{name: "no argument", args: nil, want: 1, wantStderr: "usage: healthcheck"},
		{name: "two arguments", args: []string{srv.URL, srv.URL}, want: 1, wantStderr: "usage: healthcheck"},
		{name: "not a URL", args: []string{"127.0.0.1:8081/readyz"}, want: 1, wantStderr: "is not an http(s) URL"},
		{name: "other scheme", args: []string{"ftp://127.0.0.1/readyz"}, want: 1, wantStderr: "is not an http(s) URL"},
		{name: "bad timeout", args: []string{"-timeout", "0s", srv.URL + "/ok"}, want: 1, wantStderr: "-timeout must be positive"},
		{name: "unknown flag", args: []string{"-x", srv.URL + "/ok"}, want: 1, wantStderr: "flag provided but not defined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			got := run(context.Background(), tt.args, &stdout, &stderr)
			if got != tt.want {
				t.Errorf("exit code = %d, want %d (stderr %q)", got, tt.want, stderr.String())
			}
			switch {
			case tt.wantStderr == "" && stderr.Len() > 0:
				t.Errorf("stderr = %q, want empty", stderr.String())
			case !strings.Contains(stderr.String(), tt.wantStderr):
				t.Errorf("stderr = %q, want it to contain %q", stderr.String(), tt.wantStderr)
			}
			if stdout.Len() > 0 {
				t.Errorf("stdout = %q, want empty", stdout.String())
			}
		})
	}
}

// TestRunVersion checks that -version prints the build and exits 0 without
// probing anything.
func TestRunVersion(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if got := run(context.Background(), []string{"-version"}, &stdout, &stderr); got != 0 {
		t.Errorf("exit code = %d, want 0 (stderr %q)", got, stderr.String())
	}
	if want := "healthcheck " + version.Get().String() + "\n"; stdout.String() != want {
		t.Errorf("stdout = %q, want %q", stdout.String(), want)
	}
}
