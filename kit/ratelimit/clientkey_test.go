package ratelimit_test

import (
	"testing"

	"github.com/kitshop/kitshop/kit/ratelimit"
)

func TestClientKey(t *testing.T) {
	tests := []struct {
		name, ip, want string
	}{
		{"IPv4 as is", "192.0.2.7", "192.0.2.7"},
		{"IPv6 by its /64", "2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"another address of the same /64", "2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"},
		{"the next /64 apart", "2001:db8:1:3::1", "2001:db8:1:3::/64"},
		{"IPv4-mapped IPv6 as IPv4", "::ffff:192.0.2.7", "192.0.2.7"},
		{"zone dropped", "fe80::1%eth0", "fe80::/64"},
		{"loopback", "::1", "::/64"},
		{"not an address", "unix-socket", "unix-socket"},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ratelimit.ClientKey(tt.ip); got != tt.want {
				t.Errorf("ClientKey(%q) = %q, want %q", tt.ip, got, tt.want)
			}
		})
	}
}
