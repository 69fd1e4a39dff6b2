package server_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/kitshop/kitshop/kit/health"
	"github.com/kitshop/kitshop/kit/server"
	"github.com/kitshop/kitshop/kit/version"
)

// TestHealthzNamesTheBuild checks that /healthz says which build answers:
// the version and commit kit/version reports, next to the status.
func TestHealthzNamesTheBuild(t *testing.T) {
	h := health.New()
	addr := serve(t, server.Config{Handler: http.NotFoundHandler(), Health: h})
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, want 200", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", cc)
	}
	var got map[string]string
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	v := version.Get()
	want := map[string]string{"status": "ok", "version": v.Version, "commit": v.Commit}
	if len(got) != len(want) {
		t.Errorf("body %v, want %v", got, want)
	}
	for k, w := range want {
		if got[k] != w || w == "" {
			t.Errorf("%s = %q, want %q", k, got[k], w)
		}
	}
}
