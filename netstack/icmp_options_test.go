package netstack

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/kaidoku-net/kaidoku/netstack/internal/ipv4"
	"github.com/kaidoku-net/kaidoku/netstack/internal/wire"
)

// IP options in ICMP replies: icmp_reply and __icmp_send answer with the
// options __ip_options_echo builds from the request's (record route and
// timestamp with a fresh slot, source routes reversed), filled in by
// ip_options_build, and an error's quote shrinks by their length.

// ts is inet_current_timestamp on the harness clock: ms since midnight.
func (e *env) ts() []byte {
	v := uint32((e.clk.Now() / 1e6) % 86400000)
	return binary.BigEndian.AppendUint32(nil, v)
}

func TestICMPOptionsPortUnreachRecordRoute(t *testing.T) {
	e := newEnv(t)
	p := udpPkt(9, bigPayload(992)) // a 1000-byte UDP datagram
	p.ipOpts = []byte{7, 7, 4, 0, 0, 0, 0, 0}
	e.send(p)
	ms := icmpsIn(e.sent())
	if len(ms) != 1 {
		t.Fatalf("%d ICMP messages", len(ms))
	}
	m := ms[0]
	if m.typ != 3 || m.code != 3 {
		t.Fatalf("type %d code %d", m.typ, m.code)
	}
	if m.ip.IHL() != 7 {
		t.Fatalf("IHL %d, want 7", m.ip.IHL())
	}
	// The request's RR slot was filled on receipt (pointer 8, full); the
	// reply copies it without a new slot.
	if want := cat([]byte{7, 7, 8}, a4(ipM), []byte{0}); !bytes.Equal(m.ip[20:28], want) {
		t.Fatalf("reply options % x, want % x", m.ip[20:28], want)
	}
	if len(m.body) != 540 || m.ip.TotLen() != 28+8+540 {
		t.Fatalf("quoted %d bytes (tot_len %d), want 540", len(m.body), m.ip.TotLen())
	}
	if wire.IPHeaderChecksum(m.ip[:28]) != 0 || wire.CsumFold(wire.Checksum(m.ip[28:m.ip.TotLen()], 0)) != 0 {
		t.Fatal("bad checksums")
	}
	// The quote is the request as received, with the RR slot filled in.
	if q := wire.IPv4(m.body); q.IHL() != 7 || !bytes.Equal(q[20:28], m.ip[20:28]) {
		t.Fatalf("quoted header % x", m.body[:28])
	}
}

// optReply sends an echo request with opts and returns the reply's IP
// header and options.
func (e *env) optEcho(opts []byte) wire.IPv4 {
	e.t.Helper()
	e.send(pkt{proto: wire.ProtoICMP, l4: echoRequest(1, 2, []byte("opts")), ipOpts: opts})
	ms := icmpsIn(e.sent())
	if len(ms) != 1 || ms[0].typ != 0 {
		e.t.Fatalf("%d replies: %+v", len(ms), ms)
	}
	m := ms[0]
	if !bytes.Equal(m.body, []byte("opts")) || m.rest != 0x00010002 {
		e.t.Fatalf("echo body %q rest %#x", m.body, m.rest)
	}
	if wire.IPHeaderChecksum(m.ip[:m.ip.HeaderLen()]) != 0 {
		e.t.Fatal("bad IP header checksum")
	}
	return m.ip
}

func TestICMPOptionsEchoReply(t *testing.T) {
	z4 := make([]byte, 4)
	tests := []struct {
		name string
		opts []byte
		want func(e *env) []byte // the reply's options
	}{
		{"no options", nil, func(*env) []byte { return nil }},
		{"NOPs only", []byte{1, 1, 1, 1}, func(*env) []byte { return nil }},
		{"RR with room", cat([]byte{7, 11, 4}, z4, z4, []byte{0}),
			func(*env) []byte { return cat([]byte{7, 11, 12}, a4(ipM), a4(ipM), []byte{0}) }},
		{"RR full", []byte{7, 7, 8, 10, 0, 0, 1, 0},
			func(*env) []byte { return []byte{7, 7, 8, 10, 0, 0, 1, 0} }},
		{"TS only", cat([]byte{68, 12, 5, 0}, z4, z4),
			func(e *env) []byte { return cat([]byte{68, 12, 13, 0}, e.ts(), e.ts()) }},
		{"TS full bumps overflow", cat([]byte{68, 8, 9, 0}, z4),
			func(*env) []byte { return cat([]byte{68, 8, 9, 0x10}, z4) }},
		{"TS with addresses", cat([]byte{68, 20, 5, 1}, z4, z4, z4, z4),
			func(e *env) []byte { return cat([]byte{68, 20, 21, 1}, a4(ipM), e.ts(), a4(ipM), e.ts()) }},
		{"TS prespecified, both ours", cat([]byte{68, 20, 5, 3}, a4(ipM), z4, a4(ipM), z4),
			func(e *env) []byte { return cat([]byte{68, 20, 21, 3}, a4(ipM), e.ts(), a4(ipM), e.ts()) }},
		{"TS prespecified, next one foreign", cat([]byte{68, 20, 5, 3}, a4(ipM), z4, a4(ipT), z4),
			func(e *env) []byte { return cat([]byte{68, 20, 13, 3}, a4(ipM), e.ts(), a4(ipT), z4) }},
		{"TS prespecified, foreign first", cat([]byte{68, 20, 5, 3}, a4(ipT), z4, a4(ipM), z4),
			func(e *env) []byte { return cat([]byte{68, 20, 5, 3}, a4(ipT), z4, a4(ipM), z4) }},
		{"RR then TS", cat([]byte{7, 7, 4}, z4, []byte{68, 12, 5, 0}, z4, z4, []byte{1}),
			func(e *env) []byte {
				return cat([]byte{7, 7, 8}, a4(ipM), []byte{68, 12, 13, 0}, e.ts(), e.ts(), []byte{0})
			}},
		{"unknown option dropped", []byte{0x9e, 4, 0, 0}, func(*env) []byte { return nil }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			h := e.optEcho(tc.opts)
			want := tc.want(e)
			if got := []byte(h[20:h.HeaderLen()]); !bytes.Equal(got, want) {
				t.Fatalf("reply options % x\n                 want % x", got, want)
			}
			if h.Dst() != ipT {
				t.Fatalf("reply to %v", h.Dst())
			}
		})
	}
}

func TestICMPOptionsTimestampReply(t *testing.T) {
	e := newEnv(t)
	req := make([]byte, 20)
	req[0] = 13
	binary.BigEndian.PutUint32(req[8:], 0xabcdef01)
	binary.BigEndian.PutUint16(req[2:], wire.CsumFold(wire.Checksum(req, 0)))
	e.send(pkt{proto: wire.ProtoICMP, l4: req, ipOpts: []byte{7, 11, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0}})
	ms := icmpsIn(e.sent())
	if len(ms) != 1 || ms[0].typ != 14 {
		t.Fatalf("%+v", ms)
	}
	h := ms[0].ip
	if want := cat([]byte{7, 11, 12}, a4(ipM), a4(ipM), []byte{0}); !bytes.Equal(h[20:32], want) {
		t.Fatalf("reply options % x", h[20:32])
	}
	if h.TotLen() != 32+20 {
		t.Fatalf("tot_len %d", h.TotLen())
	}
}

// With accept_source_route, a completed loose source route is reversed:
// the reply goes to the last hop, listing the earlier hops backwards and
// then the original source.
func TestICMPOptionsSourceRouteReversed(t *testing.T) {
	sys := ipv4.NewSysctl()
	sys.AcceptSourceRoute = true
	e := newEnv(t, func(c *Config) { c.sysctl = &sys })
	hop1, hop2 := wire.AddrOf(10, 0, 0, 7), wire.AddrOf(10, 0, 0, 8)
	for _, typ := range []byte{131, 137} {
		e.send(pkt{proto: wire.ProtoICMP, l4: echoRequest(1, 2, []byte("opts")),
			ipOpts: cat([]byte{typ, 11, 12}, a4(hop1), a4(hop2), []byte{0})})
		ms := icmpsIn(e.sent())
		if len(ms) != 1 {
			t.Fatalf("type %d: %d replies", typ, len(ms))
		}
		h := ms[0].ip
		if h.Dst() != hop2 || ms[0].eth.Dst() != macOf(hop2) {
			t.Fatalf("type %d: reply to %v via %v, want %v", typ, h.Dst(), ms[0].eth.Dst(), hop2)
		}
		if want := cat([]byte{typ, 11, 4}, a4(hop1), a4(ipT), []byte{0}); !bytes.Equal(h[20:h.HeaderLen()], want) {
			t.Fatalf("type %d: reply options % x, want % x", typ, h[20:h.HeaderLen()], want)
		}
	}
	// RFC 1812 5.2.4.1: a route listing the source itself first loses
	// that hop.
	e.send(pkt{proto: wire.ProtoICMP, l4: echoRequest(1, 2, []byte("opts")),
		ipOpts: cat([]byte{131, 11, 12}, a4(ipT), a4(hop2), []byte{0})})
	ms := icmpsIn(e.sent())
	if len(ms) != 1 {
		t.Fatalf("%d replies", len(ms))
	}
	if h := ms[0].ip; h.Dst() != hop2 || !bytes.Equal(h[20:h.HeaderLen()], cat([]byte{131, 7, 4}, a4(ipT), []byte{0})) {
		t.Fatalf("reply to %v options % x", h.Dst(), h[20:h.HeaderLen()])
	}
}

// An echo reply too large for the MTU is fragmented; every fragment has
// room for the options, and only the first keeps those not copied on
// fragmentation (RR, TS): ip_options_fragment turns them into NOPs.
func TestICMPOptionsFragmentedEchoReply(t *testing.T) {
	e := newEnv(t)
	data := bigPayload(1480)
	e.send(pkt{proto: wire.ProtoICMP, l4: echoRequest(1, 2, data), ipOpts: []byte{7, 11, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0}})
	var frags []wire.IPv4
	for _, f := range e.sent() {
		frags = append(frags, wire.IPv4(f[14:]))
	}
	if len(frags) != 2 {
		t.Fatalf("%d fragments", len(frags))
	}
	first, second := frags[0], frags[1]
	if first.IHL() != 8 || second.IHL() != 8 {
		t.Fatalf("IHL %d and %d, want 8", first.IHL(), second.IHL())
	}
	if want := cat([]byte{7, 11, 12}, a4(ipM), a4(ipM), []byte{0}); !bytes.Equal(first[20:32], want) {
		t.Fatalf("first fragment options % x", first[20:32])
	}
	if want := bytes.Repeat([]byte{1}, 11); !bytes.Equal(second[20:31], want) || second[31] != 0 {
		t.Fatalf("second fragment options % x", second[20:32])
	}
	if first.TotLen() != 32+(1500-32)&^7 || (first.TotLen()-32)%8 != 0 || int(second.FragOff()&wire.IPOffset)*8 != first.TotLen()-32 {
		t.Fatalf("layout: %d bytes, then offset %d", first.TotLen(), second.FragOff()&wire.IPOffset)
	}
	for _, f := range frags {
		if wire.IPHeaderChecksum(f[:32]) != 0 {
			t.Fatal("bad header checksum")
		}
	}
	body := append(append([]byte(nil), first[32:first.TotLen()]...), second[32:second.TotLen()]...)
	if !bytes.Equal(body[8:], data) || wire.CsumFold(wire.Checksum(body, 0)) != 0 {
		t.Fatal("reassembled reply differs")
	}
}

// A parameter problem about a bad option echoes the options compiled
// before the bad one (IPCB as __ip_options_compile left it).
func TestICMPOptionsParamProbEchoesEarlierOptions(t *testing.T) {
	e := newEnv(t)
	p := udpPkt(9, []byte("x"))
	p.ipOpts = []byte{7, 7, 4, 0, 0, 0, 0, 68, 3, 5, 0, 0}
	e.send(p)
	ms := icmpsIn(e.sent())
	if len(ms) != 1 || ms[0].typ != 12 {
		t.Fatalf("%+v", ms)
	}
	h := ms[0].ip
	if want := cat([]byte{7, 7, 8}, a4(ipM), []byte{0}); !bytes.Equal(h[20:h.HeaderLen()], want) {
		t.Fatalf("options % x", h[20:h.HeaderLen()])
	}
	if ms[0].rest != 28<<24 {
		t.Fatalf("pointer %#x", ms[0].rest)
	}
}

// __ip_options_echo refuses (-EINVAL) a record route whose next slot is
// cut short, and nothing is sent: not the echo reply, nor an error.
func TestICMPOptionsEchoRefusedNoReply(t *testing.T) {
	e := newEnv(t)
	rr := []byte{7, 9, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0} // room for 1¼ addresses
	e.send(pkt{proto: wire.ProtoICMP, l4: echoRequest(1, 2, []byte("x")), ipOpts: rr})
	p := udpPkt(9, []byte("x"))
	p.ipOpts = rr
	e.send(p)
	e.expect(map[string]int64{"Icmp.InEchos": 1, "Icmp.OutEchoReps": 0, "Udp.NoPorts": 1,
		"Icmp.OutDestUnreachs": 0, "Icmp.OutMsgs": 0})
	e.mustSendNothing()
}

// With 40 bytes of options the error quotes 576 - 60 - 8 = 508 bytes.
func TestICMPOptionsQuoteShrinksByOptionLength(t *testing.T) {
	e := newEnv(t)
	opts := make([]byte, 40)
	opts[0], opts[1], opts[2] = 7, 39, 4
	p := udpPkt(9, bigPayload(1000))
	p.ipOpts = opts
	e.send(p)
	ms := icmpsIn(e.sent())
	if len(ms) != 1 {
		t.Fatalf("%d messages", len(ms))
	}
	if h := ms[0].ip; h.IHL() != 15 || len(ms[0].body) != 508 || h.TotLen() != 576 {
		t.Fatalf("IHL %d, quote %d, tot_len %d", h.IHL(), len(ms[0].body), h.TotLen())
	}
	if want := cat([]byte{7, 39, 12}, a4(ipM), a4(ipM)); !bytes.Equal(ms[0].ip[20:31], want) {
		t.Fatalf("options % x", ms[0].ip[20:60])
	}
}

// FuzzICMPOptionsEcho sends arbitrary options (with source routes
// accepted) on an echo request, a timestamp request, a datagram to a
// closed UDP port, a UDP-Lite datagram and a TCP SYN: whatever comes back
// must be a well-formed IPv4 packet, and no buffer may leak.
func FuzzICMPOptionsEcho(f *testing.F) {
	sys := ipv4.NewSysctl()
	sys.AcceptSourceRoute = true
	fe := &fuzzEnv{env: newEnv(f, func(c *Config) { c.sysctl = &sys }), buf: make([]byte, 70000)}
	f.Add([]byte{7, 7, 4, 0, 0, 0, 0, 0}, uint8(0))
	f.Add([]byte{68, 20, 5, 3, 10, 0, 0, 5, 0, 0, 0, 0, 10, 0, 0, 5, 0, 0, 0, 0}, uint8(1))
	f.Add([]byte{131, 11, 12, 10, 0, 0, 7, 10, 0, 0, 8, 0}, uint8(2))
	f.Add([]byte{137, 7, 4, 10, 0, 0, 5, 0}, uint8(3))
	f.Add([]byte{68, 12, 5, 1, 0, 0, 0, 0, 0, 0, 0, 0}, uint8(4))
	f.Fuzz(func(t *testing.T, opts []byte, kind uint8) {
		defer fe.use(t)()
		if len(opts) > 40 {
			opts = opts[:40]
		}
		opts = append([]byte(nil), opts...)
		for len(opts)%4 != 0 {
			opts = append(opts, 0)
		}
		p := pkt{ipOpts: opts}
		switch kind % 5 {
		case 0:
			p.proto, p.l4 = wire.ProtoICMP, echoRequest(1, 2, bigPayload(100))
		case 1:
			req := make([]byte, 20)
			req[0] = 13
			binary.BigEndian.PutUint16(req[2:], wire.CsumFold(wire.Checksum(req, 0)))
			p.proto, p.l4 = wire.ProtoICMP, req
		case 2:
			p = udpPkt(9, bigPayload(700))
			p.ipOpts = opts
		case 3:
			p.proto, p.l4 = protoUDPLite, udpliteL4(0, bigPayload(50), ipT, ipM)
		case 4:
			p.proto, p.l4 = wire.ProtoTCP, tcpSeg(tcpSYN, 1, 0, nil)
		}
		fe.send(p)
		for _, fr := range fe.sent() {
			if wire.Eth(fr).Type() != wire.EthPIP {
				continue
			}
			h := wire.IPv4(fr[14:])
			hl := h.HeaderLen()
			if h.Version() != 4 || hl < 20 || hl > len(h) || h.TotLen() > len(h) || h.TotLen() < hl {
				t.Fatalf("malformed reply header % x", fr[14:min(len(fr), 74)])
			}
			if wire.IPHeaderChecksum(h[:hl]) != 0 {
				t.Fatal("bad reply header checksum")
			}
			if h.TotLen() > 576 && h.Protocol() == wire.ProtoICMP && fr[14+hl] == 3 {
				t.Fatalf("error of %d bytes", h.TotLen())
			}
		}
		fe.check(t)
	})
}
