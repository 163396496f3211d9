package netstack

import (
	"testing"

	"github.com/kaidoku-net/kaidoku/netstack/internal/ipv4"
	"github.com/kaidoku-net/kaidoku/netstack/internal/wire"
)

// With accept_source_route on, ip_options_rcv_srr lets a source-routed
// datagram through only if every hop still listed is this host: a host
// does not forward, so any other next hop drops it, and a hop cut short
// is a parameter problem pointing at the option's pointer.
func TestSourceRouteReceive(t *testing.T) {
	other := wire.AddrOf(10, 0, 0, 7)
	tests := []struct {
		name      string
		opts      []byte
		l2bcast   bool
		delivered bool
		paramProb uint32 // pointer<<24 of the expected parameter problem; 0: none
	}{
		{"route complete", cat([]byte{131, 7, 8}, a4(other), []byte{0}), false, true, 0},
		{"next hop is this host", cat([]byte{131, 7, 4}, a4(ipM), []byte{0}), false, true, 0},
		{"strict, next hop is this host", cat([]byte{137, 7, 4}, a4(ipM), []byte{0}), false, true, 0},
		{"next hop elsewhere", cat([]byte{131, 7, 4}, a4(other), []byte{0}), false, false, 0},
		{"this host, then elsewhere", cat([]byte{131, 11, 4}, a4(ipM), a4(other), []byte{0}), false, false, 0},
		{"hop cut short", []byte{131, 6, 4, 10, 0, 0, 1, 0}, false, false, 22 << 24},
		{"in a link-layer broadcast", cat([]byte{131, 7, 8}, a4(other), []byte{0}), true, false, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sys := ipv4.NewSysctl()
			sys.AcceptSourceRoute = true
			e := newEnv(t, func(c *Config) { c.sysctl = &sys })
			s := e.bound(0, 7000)
			e.mark()
			p := udpPkt(7000, []byte("routed"))
			p.ipOpts = tc.opts
			if tc.l2bcast {
				p.dstMAC = wire.BroadcastMAC
			}
			e.send(p)
			ms := icmpsIn(e.sent())
			if tc.delivered {
				e.expect(map[string]int64{"Ip.InDelivers": 1})
				mustRecv(t, s, []byte("routed"))
			} else {
				e.expect(map[string]int64{"Ip.InDelivers": 0, "Ip.InHdrErrors": 0, "Ip.InAddrErrors": 0, "Drop.NOT_SPECIFIED": 1})
				mustEmpty(t, s)
			}
			switch {
			case tc.paramProb != 0:
				if len(ms) != 1 || ms[0].typ != 12 || ms[0].rest != tc.paramProb {
					t.Fatalf("%+v", ms)
				}
			case len(ms) != 0:
				t.Fatalf("unexpected ICMP %+v", ms)
			}
		})
	}
}

// Checklist item 29: a well-formed LSRR option with source routing off: dropped, only
// Ip.InReceives, no ICMP.
func TestLSRRSilentlyDropped(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	e.mark()
	p := udpPkt(7000, []byte("lsrr"))
	p.ipOpts = []byte{131, 7, 4, 10, 0, 0, 1, 0}
	e.send(p)
	e.expectOnly(map[string]int64{"Ip.InReceives": 1})
	mustEmpty(t, s)
	e.mustSendNothing()
}
