package ipv4

import (
	"fmt"
	"io"
	"sort"

	"github.com/kaidoku-net/kaidoku/netstack/internal/ether"
	"github.com/kaidoku-net/kaidoku/netstack/internal/wire"
)

// Routing tables (RT_TABLE_*).
const (
	RtTableMain  = 254
	RtTableLocal = 255
)

// Route scopes (RT_SCOPE_*).
const (
	RtScopeUniverse = 0
	RtScopeLink     = 253
	RtScopeHost     = 254
)

// fibRoute is one route of a table: a struct fib_alias with its
// fib_info and single nexthop.
type fibRoute struct {
	table   uint8
	typ     uint8
	dst     wire.Addr
	plen    int
	scope   uint8
	dev     *ether.Device
	gw      wire.Addr
	prefsrc wire.Addr
}

func (r *fibRoute) matches(a wire.Addr) bool {
	if r.plen == 0 {
		return true
	}
	m := wire.Addr(^uint32(0) << (32 - r.plen))
	return a&m == r.dst
}

// inIfaddr is struct in_ifaddr: an address configured on a device.
type inIfaddr struct {
	dev   *ether.Device
	local wire.Addr
	plen  int
	scope uint8
}

// fibSetup configures the addresses (127.0.0.1/8 on lo, then the NIC's)
// and builds the routes the kernel derives from them (fib_add_ifaddr),
// plus the default route when there is a gateway, so that
// `ip route show table local` and `ip route` would list:
//
//	local 127.0.0.0/8 dev lo scope host src 127.0.0.1
//	local 127.0.0.1 dev lo scope host src 127.0.0.1
//	broadcast 127.255.255.255 dev lo scope link src 127.0.0.1
//	local A dev eth0 scope host src A
//	broadcast B dev eth0 scope link src A      (prefix shorter than /31)
//	P dev eth0 scope link src A                (main)
//	default via G dev eth0                     (main)
func (ip *IPv4) fibSetup() {
	lo := ip.net.Loopback()
	ip.ifaddrs = append(ip.ifaddrs, inIfaddr{dev: lo, local: wire.AddrOf(127, 0, 0, 1), plen: 8, scope: RtScopeHost})
	if ip.addr != 0 {
		ip.ifaddrs = append(ip.ifaddrs, inIfaddr{dev: ip.dev, local: ip.addr, plen: ip.cfg.PrefixLen, scope: RtScopeUniverse})
	}
	for _, ifa := range ip.ifaddrs {
		ip.fibAddIfaddr(ifa)
	}
	if ip.gw != 0 {
		ip.fib = append(ip.fib, fibRoute{table: RtTableMain, typ: RtnUnicast, scope: RtScopeUniverse, dev: ip.dev, gw: ip.gw})
	}
	// Longest prefix first within each table, local before main (the
	// default rules' order).
	sort.SliceStable(ip.fib, func(i, j int) bool {
		a, b := &ip.fib[i], &ip.fib[j]
		if a.table != b.table {
			return a.table > b.table
		}
		return a.plen > b.plen
	})
}

// fibAddIfaddr mirrors fib_frontend.c: fib_add_ifaddr through fib_magic:
// the address as a local route; the prefix (local on lo, a link route in
// main otherwise) unless it is the address itself; the prefix broadcast
// when the prefix is shorter than /31.
func (ip *IPv4) fibAddIfaddr(ifa inIfaddr) {
	ip.fib = append(ip.fib, fibRoute{table: RtTableLocal, typ: RtnLocal, dst: ifa.local, plen: 32,
		scope: RtScopeHost, dev: ifa.dev, prefsrc: ifa.local})
	if ifa.plen <= 0 || ifa.plen > 32 {
		return
	}
	mask := wire.Addr(^uint32(0) << (32 - ifa.plen))
	prefix := ifa.local & mask
	if prefix.IsZeronet() || (prefix == ifa.local && ifa.plen == 32) {
		return
	}
	if ifa.dev.IsLoopback() {
		ip.fib = append(ip.fib, fibRoute{table: RtTableLocal, typ: RtnLocal, dst: prefix, plen: ifa.plen,
			scope: RtScopeHost, dev: ifa.dev, prefsrc: ifa.local})
	} else {
		ip.fib = append(ip.fib, fibRoute{table: RtTableMain, typ: RtnUnicast, dst: prefix, plen: ifa.plen,
			scope: RtScopeLink, dev: ifa.dev, prefsrc: ifa.local})
	}
	if ifa.plen < 31 {
		ip.fib = append(ip.fib, fibRoute{table: RtTableLocal, typ: RtnBroadcast, dst: prefix | ^mask, plen: 32,
			scope: RtScopeLink, dev: ifa.dev, prefsrc: ifa.local})
	}
}

// fibLookup mirrors fib_lookup with the default rules: the local table,
// then main, longest prefix first; with oif set, only routes through that
// device match (fib_lookup_good_nhc). nil means no route.
func (ip *IPv4) fibLookup(daddr wire.Addr, oif int) *fibRoute {
	return ip.fibTableLookup(0, daddr, oif)
}

// fibTableLookup is fib_table_lookup on one table (0: the rules' order).
func (ip *IPv4) fibTableLookup(table uint8, daddr wire.Addr, oif int) *fibRoute {
	for i := range ip.fib {
		r := &ip.fib[i]
		if table != 0 && r.table != table {
			continue
		}
		if !r.matches(daddr) {
			continue
		}
		if oif != 0 && oif != r.dev.Ifindex {
			continue
		}
		return r
	}
	return nil
}

// fibResPrefsrc is FIB_RES_PREFSRC: the route's preferred source, or an
// address of its device chosen for the gateway.
func (ip *IPv4) fibResPrefsrc(r *fibRoute) wire.Addr {
	if r.prefsrc != 0 {
		return r.prefsrc
	}
	return ip.inetSelectAddr(r.dev, r.gw, r.scope)
}

// inetSelectAddr mirrors devinet.c: inet_select_addr: an address of dev
// within scope, preferring one on dst's subnet; failing that, the first
// address within scope on any device, lo first (in_dev_select_addr).
func (ip *IPv4) inetSelectAddr(dev *ether.Device, dst wire.Addr, scope uint8) wire.Addr {
	var addr wire.Addr
	for _, ifa := range ip.ifaddrs {
		if ifa.dev != dev || ifa.scope > scope {
			continue
		}
		if dst == 0 || inetIfaMatch(dst, ifa) {
			return ifa.local
		}
		if addr == 0 {
			addr = ifa.local
		}
	}
	if addr != 0 {
		return addr
	}
	for _, d := range ip.net.Devices() {
		for _, ifa := range ip.ifaddrs {
			if ifa.dev == d && ifa.scope != RtScopeLink && ifa.scope <= scope {
				return ifa.local
			}
		}
	}
	return 0
}

func inetIfaMatch(a wire.Addr, ifa inIfaddr) bool {
	if ifa.plen <= 0 {
		return true
	}
	m := wire.Addr(^uint32(0) << (32 - ifa.plen))
	return a&m == ifa.local&m
}

// ipDevFind mirrors devinet.c: __ip_dev_find: the device that has addr,
// or, failing that, the device of a local route covering it (so that all
// of 127/8 is lo's); nil if addr is not this host's.
func (ip *IPv4) ipDevFind(addr wire.Addr) *ether.Device {
	for _, ifa := range ip.ifaddrs {
		if ifa.local == addr {
			return ifa.dev
		}
	}
	if r := ip.fibTableLookup(RtTableLocal, addr, 0); r != nil && r.typ == RtnLocal {
		return r.dev
	}
	return nil
}

// DevGetByIndex is dev_get_by_index over the namespace's devices.
func (ip *IPv4) DevGetByIndex(i int) *ether.Device { return ip.net.GetByIndex(i) }

// DevGetByName is dev_get_by_name over the namespace's devices.
func (ip *IPv4) DevGetByName(name string) *ether.Device { return ip.net.GetByName(name) }

// IsLocalAddr reports whether a is an address of this host: a local
// route of the local table covers it (our address, all of 127/8 but its
// broadcast).
func (ip *IPv4) IsLocalAddr(a wire.Addr) bool { return ip.InetAddrType(a) == RtnLocal }

// InetAddrType mirrors fib_frontend.c: inet_addr_type_table: 0/8 and
// 255.255.255.255 are BROADCAST, 224/4 MULTICAST, otherwise the type of
// the local table's route covering a (LOCAL for our addresses and 127/8,
// BROADCAST for the prefix broadcasts), else UNICAST.
func (ip *IPv4) InetAddrType(a wire.Addr) int {
	switch {
	case a.IsZeronet() || a.IsLbcast():
		return RtnBroadcast
	case a.IsMulticast():
		return RtnMulticast
	}
	if r := ip.fibTableLookup(RtTableLocal, a, 0); r != nil {
		return int(r.typ)
	}
	return RtnUnicast
}

var rtnNames = map[uint8]string{RtnUnicast: "", RtnLocal: "local ", RtnBroadcast: "broadcast ", RtnMulticast: "multicast "}

var scopeNames = map[uint8]string{RtScopeLink: " scope link", RtScopeHost: " scope host"}

// WriteRoutes prints the routes as `ip route show table all` does for
// the main and local tables: each in the trie's order, by destination
// and then prefix length.
func (ip *IPv4) WriteRoutes(w io.Writer) error {
	for _, tbl := range []uint8{RtTableMain, RtTableLocal} {
		var rs []*fibRoute
		for i := range ip.fib {
			if ip.fib[i].table == tbl {
				rs = append(rs, &ip.fib[i])
			}
		}
		sort.SliceStable(rs, func(i, j int) bool {
			if rs[i].dst != rs[j].dst {
				return rs[i].dst < rs[j].dst
			}
			return rs[i].plen < rs[j].plen
		})
		for _, r := range rs {
			var line string
			if r.plen == 0 {
				line = "default via " + r.gw.String() + " dev " + r.dev.Name
			} else {
				line = rtnNames[r.typ] + r.dst.String()
				if r.plen != 32 {
					line += fmt.Sprintf("/%d", r.plen)
				}
				line += " dev " + r.dev.Name
				if tbl == RtTableLocal {
					line += " table local"
				}
				line += " proto kernel" + scopeNames[r.scope]
				if r.prefsrc != 0 {
					line += " src " + r.prefsrc.String()
				}
			}
			if _, err := io.WriteString(w, line+"\n"); err != nil {
				return err
			}
		}
	}
	return nil
}
