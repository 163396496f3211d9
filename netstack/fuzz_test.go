package netstack

import (
	"encoding/binary"
	"testing"

	"github.com/kaidoku-net/kaidoku/netstack/internal/wire"
)

func ethIP(payload []byte) []byte {
	f := make([]byte, 14, 14+len(payload))
	wire.PutEth(f, macM, macT, wire.EthPIP)
	return append(f, payload...)
}

// fixIP makes the header checksum valid (when the fuzzer asks) so the
// input reaches past ip_rcv_core.
func fixIP(ip []byte) {
	if len(ip) < 20 {
		return
	}
	hl := int(ip[0]&15) * 4
	if hl < 20 || hl > len(ip) {
		return
	}
	ip[10], ip[11] = 0, 0
	binary.BigEndian.PutUint16(ip[10:], wire.IPHeaderChecksum(ip[:hl]))
}

func FuzzReceiveFrame(f *testing.F) {
	fe := newFuzzEnv(f)
	p := udpPkt(7000, []byte("seed"))
	f.Add(p.frame())
	p.tagged = true
	f.Add(p.frame())
	f.Add(frameOf(pkt{proto: wire.ProtoICMP, l4: echoRequest(1, 1, []byte("x"))}))
	f.Fuzz(func(t *testing.T, frame []byte) {
		defer fe.use(t)()
		if len(frame) > 1998 {
			frame = frame[:1998]
		}
		fe.inject(frame)
		fe.check(t)
	})
}

func frameOf(p pkt) []byte { return p.frame() }

func FuzzEthernet(f *testing.F) {
	fe := newFuzzEnv(f)
	f.Add(uint8(0), uint16(0x0800), uint16(0), []byte{})
	f.Add(uint8(3), uint16(0x8100), uint16(100), []byte{8, 0})
	f.Fuzz(func(t *testing.T, dstSel uint8, typ uint16, tci uint16, rest []byte) {
		defer fe.use(t)()
		dst := [...]wire.MAC{macM, wire.BroadcastMAC, {1, 0, 0x5e, 0, 0, 1}, {2, 0, 0, 0, 0, 7}}[dstSel&3]
		fr := make([]byte, 14, 64)
		wire.PutEth(fr, dst, macT, typ)
		if dstSel&4 != 0 {
			fr = append(fr, byte(tci>>8), byte(tci))
		}
		up := udpPkt(7000, []byte("eth"))
		ip := up.ipBytes()
		if dstSel&8 != 0 {
			fr = append(fr, rest...)
		} else {
			fr = append(fr, ip...)
		}
		if len(fr) > 1998 {
			fr = fr[:1998]
		}
		fe.inject(fr)
		fe.check(t)
	})
}

func FuzzIPv4(f *testing.F) {
	fe := newFuzzEnv(f)
	p := udpPkt(7000, []byte("ip"))
	f.Add(p.ipBytes(), true)
	p.ipOpts = []byte{7, 7, 4, 0, 0, 0, 0, 1}
	f.Add(p.ipBytes(), true)
	d := udpDatagram(ipT, ipM, 40000, 7000, bigPayload(100))
	f1, f2 := frag(d, 0, 64, true, 3), frag(d, 64, len(d)-64, false, 3)
	f.Add(f1.ipBytes(), true)
	f.Add(f2.ipBytes(), true)
	f.Fuzz(func(t *testing.T, ip []byte, fix bool) {
		defer fe.use(t)()
		if len(ip) > 1984 {
			ip = ip[:1984]
		}
		ip = append([]byte(nil), ip...)
		if fix {
			fixIP(ip)
		}
		fe.inject(ethIP(ip))
		fe.check(t)
	})
}

func FuzzUDP(f *testing.F) {
	fe := newFuzzEnv(f)
	u1, u2 := udpPkt(7000, []byte("u")), udpPkt(7002, bigPayload(100))
	f.Add(u1.l4bytes(ipT, ipM), uint8(0), true)
	f.Add(u2.l4bytes(ipT, ipM), uint8(1), false)
	f.Fuzz(func(t *testing.T, u []byte, dstSel uint8, fixCsum bool) {
		defer fe.use(t)()
		if len(u) > 1900 {
			u = u[:1900]
		}
		u = append([]byte(nil), u...)
		dst := [...]wire.Addr{ipM, ipBcst, wire.AddrOf(224, 0, 0, 251), wire.AddrOf(255, 255, 255, 255)}[dstSel&3]
		if fixCsum && len(u) >= 8 {
			u[6], u[7] = 0, 0
			binary.BigEndian.PutUint16(u[6:], wire.UDPChecksum(u, ipT, dst))
		}
		p := pkt{dst: dst, l4: u}
		if dstSel&4 != 0 {
			p.src = wire.AddrOf(10, 0, 0, 7)
		}
		fe.send(p)
		fe.check(t)
	})
}

func FuzzICMP(f *testing.F) {
	fe := newFuzzEnv(f)
	f.Add(echoRequest(1, 2, []byte("ping")), true)
	unreach := portUnreachQuoting(7001, 9000, ipT)
	f.Add(unreach.l4, true)
	f.Fuzz(func(t *testing.T, c []byte, fix bool) {
		defer fe.use(t)()
		if len(c) > 1900 {
			c = c[:1900]
		}
		c = append([]byte(nil), c...)
		if fix && len(c) >= 4 {
			c[2], c[3] = 0, 0
			binary.BigEndian.PutUint16(c[2:], wire.CsumFold(wire.Checksum(c, 0)))
		}
		fe.send(pkt{proto: wire.ProtoICMP, l4: c})
		fe.check(t)
	})
}

func FuzzARP(f *testing.F) {
	fe := newFuzzEnv(f)
	a := make([]byte, 28)
	wire.PutARP(a, wire.ARPOpRequest, macT, ipT, wire.MAC{}, ipM)
	f.Add(a, uint8(0))
	wire.PutARP(a, wire.ARPOpReply, macT, ipT, macM, ipM)
	f.Add(a, uint8(1))
	f.Fuzz(func(t *testing.T, a []byte, dstSel uint8) {
		defer fe.use(t)()
		if len(a) > 1900 {
			a = a[:1900]
		}
		dst := macM
		if dstSel&1 != 0 {
			dst = wire.BroadcastMAC
		}
		fr := make([]byte, 14, 14+len(a))
		wire.PutEth(fr, dst, macT, wire.EthPARP)
		fe.inject(append(fr, a...))
		// Exercise resolution and the pending queue too.
		if dstSel&2 != 0 {
			s := fe.socks[2]
			s.SendTo([]byte("x"), 0, sa(wire.AddrOf(10, 0, 0, 200), 9))
		}
		fe.check(t)
	})
}
