package gateway_test

import (
	"crypto/rand"
	"maps"
	"net/http"
	"strings"
	"testing"

	"github.com/go-kit/log"

	"github.com/kitshop/kitshop/gateway"
	"github.com/kitshop/kitshop/internal/testenv"
	"github.com/kitshop/kitshop/internal/testlog"
	"github.com/kitshop/kitshop/kit/auth/authtest"
	"github.com/kitshop/kitshop/kit/consul"
)

func TestParseOwners(t *testing.T) {
	tests := []struct {
		value   string
		want    gateway.Owners
		wantErr string
	}{
		{value: "", want: gateway.Owners{}},
		{value: "/api/v1/users=user, /api/v1/auth/=user,,", want: gateway.Owners{"/api/v1/users": "user", "/api/v1/auth": "user"}},
		{value: "/api/v1/users=user,/api/v1/users=user", want: gateway.Owners{"/api/v1/users": "user"}},
		{value: "/api/v1/users=user,/api/v1/users=rogue", wantErr: "pinned to \"user\" already"},
		{value: "/api/v1/users", wantErr: "want"},
		{value: "/api/v1/users=", wantErr: "want"},
		{value: "/api/v1/users=a b", wantErr: "want"},
		{value: "/=web", want: gateway.Owners{"/": "web"}}, // the site (SitePrefix)
		{value: "/metrics=user", wantErr: "reserved"},
		{value: "api=user", wantErr: "must start with /"},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			got, err := gateway.ParseOwners(tt.value)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseOwners(%q) = %v, %v; want an error mentioning %q", tt.value, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || !maps.Equal(got, tt.want) {
				t.Errorf("ParseOwners(%q) = %v, %v; want %v", tt.value, got, err, tt.want)
			}
		})
	}
}

// TestConsulRefusesConflictingClaims: a service announcing a prefix another
// service already serves does not take it over, even with a name that sorts
// first; the refusal is logged and counted; and a prefix pinned by the
// configuration goes to its pinned service only, below it included.
func TestConsulRefusesConflictingClaims(t *testing.T) {
	client, err := consul.NewClient(testenv.Consul(t).Addr())
	if err != nil {
		t.Fatal(err)
	}
	suffix := strings.ToLower(rand.Text()[:8])
	owner, rogue, pinned := "zz-owner-"+suffix, "aa-rogue-"+suffix, "pinned-"+suffix
	prefix, pinnedPrefix := "/api/v1/c"+suffix, "/api/v1/p"+suffix
	public := "GET " + prefix + ",GET " + pinnedPrefix

	logs := &testlog.Buffer{}
	src := gateway.NewPinnedConsulSource(client, log.NewLogfmtLogger(logs), gateway.Owners{pinnedPrefix: pinned}, fastRetry)
	t.Cleanup(src.Stop)
	gw := consulGateway(t, src, authtest.NewSigner(t).KeySource(), logs)

	startService(t, client, spec{name: owner, id: owner + "-1", prefix: prefix, public: public})
	eventually(t, "owner routed", func() bool {
		resp, body := gw.get(t, prefix+"/1")
		return resp.StatusCode == http.StatusOK && body == owner+"-1"
	})
	// The rogue claims the owner's prefix, the pinned prefix and a prefix
	// below it, which a longest-prefix lookup would prefer.
	startService(t, client, spec{name: rogue, id: rogue + "-1", prefix: prefix + "," + pinnedPrefix + "," + pinnedPrefix + "/admin", public: public})
	eventually(t, "rogue's claims refused", func() bool { return src.RefusedClaims() == 3 })
	for _, path := range []string{prefix + "/1", pinnedPrefix + "/admin/x", pinnedPrefix} {
		resp, body := gw.get(t, path)
		if body == rogue+"-1" {
			t.Errorf("GET %s reached the rogue service (%d)", path, resp.StatusCode)
		}
	}
	if n := strings.Count(logs.String(), `msg="refusing api prefix claim"`); n != 3 {
		t.Errorf("%d refusals logged, want 3 (once each):\n%s", n, logs)
	}

	// The pinned service gets its prefix; the rogue's claims stay refused.
	startService(t, client, spec{name: pinned, id: pinned + "-1", prefix: pinnedPrefix, public: public})
	eventually(t, "pinned service routed", func() bool {
		resp, body := gw.get(t, pinnedPrefix+"/1")
		return resp.StatusCode == http.StatusOK && body == pinned+"-1"
	})
	if got := src.RefusedClaims(); got != 3 {
		t.Errorf("RefusedClaims = %d, want 3", got)
	}
}
