package netstack

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"

	"github.com/kaidoku-net/kaidoku/netstack/internal/wire"
)

// TCP (IPPROTO_TCP) is a registered protocol in Linux: with no socket,
// tcp_v4_rcv counts the segment in the Tcp MIB and tcp_v4_send_reset
// answers it with a reset.

func TestTCPNoSocket(t *testing.T) {
	rst := map[string]int64{"Ip.InDelivers": 1, "Ip.InUnknownProtos": 0, "Tcp.InSegs": 1, "Tcp.OutSegs": 1,
		"Tcp.OutRsts": 1, "Tcp.InErrs": 0, "Ip.OutRequests": 1, "Icmp.OutMsgs": 0, "Drop.NO_SOCKET": 1}
	tests := []struct {
		name     string
		seg      func() []byte
		tos      uint8
		want     map[string]int64
		rstFlags byte   // 0: no reply
		seq, ack uint32 // of the reset
	}{
		{"SYN", func() []byte { return tcpSeg(tcpSYN, 1000, 0, nil) }, 0, rst, tcpRST | tcpACK, 0, 1001},
		{"SYN with data and FIN", func() []byte { return tcpSeg(tcpSYN|tcpFIN, 1000, 0, []byte("hello")) }, 0, rst, tcpRST | tcpACK, 0, 1007},
		{"ACK with data", func() []byte { return tcpSeg(tcpACK, 5, 777, []byte("data")) }, 0, rst, tcpRST, 777, 0},
		{"ECN bits cleared", func() []byte { return tcpSeg(tcpSYN, 1, 0, nil) }, 0x2b, rst, tcpRST | tcpACK, 0, 2},
		{"RST gets no reset", func() []byte { return tcpSeg(tcpRST, 1, 0, nil) }, 0,
			map[string]int64{"Ip.InDelivers": 1, "Tcp.InSegs": 1, "Tcp.OutSegs": 0, "Tcp.OutRsts": 0, "Drop.NO_SOCKET": 1}, 0, 0, 0},
		{"bad checksum", func() []byte {
			s := tcpSeg(tcpSYN, 1, 0, nil)
			s[16] ^= 0xff
			return s
		}, 0, map[string]int64{"Ip.InDelivers": 1, "Tcp.InSegs": 1, "Tcp.InCsumErrors": 1, "Tcp.InErrs": 1,
			"Tcp.OutRsts": 0, "Drop.TCP_CSUM": 1}, 0, 0, 0},
		{"bad checksum, long", func() []byte {
			s := tcpSeg(tcpACK, 1, 1, bigPayload(200))
			s[150] ^= 0xff
			return s
		}, 0, map[string]int64{"Tcp.InSegs": 1, "Tcp.InCsumErrors": 1, "Tcp.InErrs": 1, "Drop.TCP_CSUM": 1}, 0, 0, 0},
		{"data offset below 5", func() []byte {
			s := tcpSeg(tcpSYN, 1, 0, nil)
			s[12] = 4 << 4
			return s
		}, 0, map[string]int64{"Ip.InDelivers": 1, "Tcp.InSegs": 1, "Tcp.InErrs": 1, "Tcp.InCsumErrors": 0,
			"Drop.PKT_TOO_SMALL": 1}, 0, 0, 0},
		{"data offset beyond the segment", func() []byte {
			s := tcpSeg(tcpSYN, 1, 0, nil)
			s[12] = 15 << 4
			return s
		}, 0, map[string]int64{"Tcp.InSegs": 1, "Tcp.InErrs": 0, "Drop.NOT_SPECIFIED": 1}, 0, 0, 0},
		{"shorter than a header", func() []byte { return []byte{1, 2, 3, 4} }, 0,
			map[string]int64{"Ip.InDelivers": 1, "Tcp.InSegs": 1, "Tcp.InErrs": 0, "Drop.NOT_SPECIFIED": 1}, 0, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.send(pkt{proto: wire.ProtoTCP, l4: tc.seg(), tos: tc.tos})
			e.expect(tc.want)
			var out []wire.IPv4
			for _, f := range e.sent() {
				out = append(out, wire.IPv4(f[14:]))
			}
			if tc.rstFlags == 0 {
				if len(out) != 0 {
					t.Fatalf("%d frames sent", len(out))
				}
				return
			}
			if len(out) != 1 {
				t.Fatalf("%d frames sent", len(out))
			}
			h := out[0]
			if h.Protocol() != wire.ProtoTCP || h.Src() != ipM || h.Dst() != ipT || h.TotLen() != 40 ||
				h.FragOff() != wire.IPFlagDF || h.ID() != 0 || h.TTL() != 64 || h.TOS() != tc.tos&^3 {
				t.Fatalf("IP header % x", []byte(h[:20]))
			}
			th := h[20:40]
			if binary.BigEndian.Uint16(th[0:]) != 80 || binary.BigEndian.Uint16(th[2:]) != 40000 ||
				th[12] != 5<<4 || th[13] != tc.rstFlags || binary.BigEndian.Uint16(th[14:]) != 0 ||
				binary.BigEndian.Uint32(th[4:]) != tc.seq || binary.BigEndian.Uint32(th[8:]) != tc.ack {
				t.Fatalf("reset % x", []byte(th))
			}
			if wire.CsumFold(wire.Checksum(th, wire.PseudoSum(ipM, ipT, wire.ProtoTCP, 20))) != 0 {
				t.Fatal("bad TCP checksum")
			}
		})
	}
}

// No reset answers a segment sent to a broadcast address, and a segment
// in a frame not addressed to this host is discarded before counting.
func TestTCPNoResetToBroadcast(t *testing.T) {
	e := newEnv(t)
	seg := tcpSeg(tcpSYN, 1, 0, nil)
	binary.BigEndian.PutUint16(seg[16:], 0)
	binary.BigEndian.PutUint16(seg[16:], wire.CsumFold(wire.Checksum(seg, wire.PseudoSum(ipT, ipBcst, wire.ProtoTCP, len(seg)))))
	e.send(pkt{proto: wire.ProtoTCP, dst: ipBcst, l4: seg})
	e.expect(map[string]int64{"Ip.InDelivers": 1, "Tcp.InSegs": 1, "Tcp.OutRsts": 0, "Drop.NO_SOCKET": 1})
	e.mark()
	p := pkt{proto: wire.ProtoTCP, l4: tcpSeg(tcpSYN, 1, 0, nil)}
	e.send(p)
	p.dstMAC = wire.BroadcastMAC
	e.send(p)
	e.expect(map[string]int64{"Ip.InDelivers": 2, "Tcp.InSegs": 1, "Tcp.OutRsts": 1, "Drop.NOT_SPECIFIED": 1})
	if n := len(e.sent()); n != 1 {
		t.Fatalf("%d frames sent", n)
	}
}

// The reset echoes the segment's IP options, as ip_send_unicast_reply
// does.
func TestTCPResetEchoesOptions(t *testing.T) {
	e := newEnv(t)
	e.send(pkt{proto: wire.ProtoTCP, l4: tcpSeg(tcpSYN, 1, 0, nil), ipOpts: []byte{7, 11, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0}})
	fs := e.sent()
	if len(fs) != 1 {
		t.Fatalf("%d frames", len(fs))
	}
	h := wire.IPv4(fs[0][14:])
	if want := cat([]byte{7, 11, 12}, a4(ipM), a4(ipM), []byte{0}); h.IHL() != 8 || !bytes.Equal(h[20:32], want) {
		t.Fatalf("header % x", []byte(h[:32]))
	}
	if h.TotLen() != 52 || wire.IPHeaderChecksum(h[:32]) != 0 {
		t.Fatalf("tot_len %d", h.TotLen())
	}
}

func TestTCPInProcNetSNMP(t *testing.T) {
	e := newEnv(t)
	e.send(pkt{proto: wire.ProtoTCP, l4: tcpSeg(tcpSYN, 1, 0, nil)})
	bad := tcpSeg(tcpSYN, 1, 0, nil)
	bad[16] ^= 1
	e.send(pkt{proto: wire.ProtoTCP, l4: bad})
	var b strings.Builder
	e.s.WriteSNMP(&b)
	lines := strings.Split(b.String(), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "Tcp: RtoAlgorithm") {
			if want := "Tcp: 1 200 120000 -1 0 0 0 0 0 2 1 0 1 1 1"; lines[i+1] != want {
				t.Fatalf("%q, want %q", lines[i+1], want)
			}
			return
		}
	}
	t.Fatalf("no Tcp lines in\n%s", b.String())
}
