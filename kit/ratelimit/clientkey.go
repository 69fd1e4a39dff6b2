package ratelimit

import "net/netip"

// IPv6PrefixBits is how much of an IPv6 address ClientKey keeps: a /64 is
// what one subscriber (one home, one server) is given, and the 2^64
// addresses inside it are the owner's to pick from at will.
const IPv6PrefixBits = 64

// ClientKey returns the key a client at ip is rate-limited by: an IPv4
// address as is, an IPv6 address by its /64 prefix ("2001:db8:1:2::/64").
// Keyed by the full IPv6 address, a client that owns a /64 (as nearly every
// IPv6 client does) would get a fresh bucket per request. IPv4-mapped IPv6
// addresses count as the IPv4 address they carry, and a zone is dropped.
// Something that is not an IP address is returned unchanged, so callers
// need not check it first.
func ClientKey(ip string) string {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	return AddrKey(addr)
}

// AddrKey is ClientKey for a parsed address.
func AddrKey(addr netip.Addr) string {
	addr = addr.Unmap().WithZone("")
	if addr.Is4() || !addr.IsValid() {
		return addr.String()
	}
	prefix, _ := addr.Prefix(IPv6PrefixBits) // cannot fail for IPv6
	return prefix.String()
}
