package netstack

import (
	"bytes"
	"strings"
	"testing"

	"github.com/kaidoku-net/kaidoku/netstack/internal/wire"
)

// UDP-Lite (IPPROTO_UDPLITE, 136) is a registered protocol in Linux:
// with no UDP-Lite socket a datagram is delivered, counted in the UdpLite
// MIB and answered like UDP to a closed port; its length field is the
// checksum coverage (udplite_checksum_init).

func TestUDPLite(t *testing.T) {
	closed := map[string]int64{"Ip.InDelivers": 1, "Ip.InUnknownProtos": 0, "UdpLite.NoPorts": 1,
		"UdpLite.InErrors": 0, "Icmp.OutDestUnreachs": 1, "Icmp.OutMsgs": 1, "Ip.OutRequests": 1,
		"Drop.NO_SOCKET": 1}
	csum := map[string]int64{"Ip.InDelivers": 1, "UdpLite.InCsumErrors": 1, "UdpLite.InErrors": 1,
		"Drop.UDP_CSUM": 1}
	tests := []struct {
		name  string
		l4    func() []byte
		dst   wire.Addr
		want  map[string]int64
		reply bool // port unreachable expected
	}{
		{"full coverage", func() []byte { return udpliteL4(0, bigPayload(30), ipT, ipM) }, 0, closed, true},
		{"full coverage, long", func() []byte { return udpliteL4(0, bigPayload(300), ipT, ipM) }, 0, closed, true},
		{"coverage equals length", func() []byte { return udpliteL4(38, bigPayload(30), ipT, ipM) }, 0, closed, true},
		{"header-only coverage, payload altered", func() []byte {
			u := udpliteL4(8, bigPayload(300), ipT, ipM)
			u[100] ^= 0xff // not covered
			return u
		}, 0, closed, true},
		{"partial coverage, covered byte altered", func() []byte {
			u := udpliteL4(20, bigPayload(300), ipT, ipM)
			u[12] ^= 0xff
			return u
		}, 0, csum, false},
		{"full coverage, bad checksum, short", func() []byte {
			u := udpliteL4(0, bigPayload(30), ipT, ipM)
			u[10] ^= 1
			return u
		}, 0, csum, false},
		{"full coverage, bad checksum, long", func() []byte {
			u := udpliteL4(0, bigPayload(300), ipT, ipM)
			u[200] ^= 1
			return u
		}, 0, csum, false},
		{"zero checksum", func() []byte {
			u := udpliteL4(0, bigPayload(30), ipT, ipM)
			u[6], u[7] = 0, 0
			return u
		}, 0, csum, false},
		{"coverage below the header", func() []byte { return udpliteL4(4, bigPayload(30), ipT, ipM) }, 0, csum, false},
		{"coverage beyond the datagram", func() []byte { return udpliteL4(39, bigPayload(30), ipT, ipM) }, 0,
			map[string]int64{"Ip.InDelivers": 1, "UdpLite.InErrors": 1, "UdpLite.InCsumErrors": 0, "Drop.PKT_TOO_SMALL": 1}, false},
		{"shorter than a header", func() []byte { return []byte{1, 2, 3, 4} }, 0,
			map[string]int64{"Ip.InDelivers": 1, "UdpLite.InErrors": 1, "Drop.NOT_SPECIFIED": 1}, false},
		{"to the subnet broadcast", func() []byte { return udpliteL4(0, bigPayload(30), ipT, ipBcst) }, ipBcst,
			map[string]int64{"Ip.InDelivers": 1, "UdpLite.IgnoredMulti": 1, "UdpLite.NoPorts": 0, "Drop.NOT_SPECIFIED": 1}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			p := pkt{proto: protoUDPLite, dst: tc.dst, l4: tc.l4()}
			ip := p.ipBytes()
			e.send(p)
			e.expect(tc.want)
			ms := icmpsIn(e.sent())
			if !tc.reply {
				if len(ms) != 0 {
					t.Fatalf("unexpected ICMP %+v", ms)
				}
				return
			}
			if len(ms) != 1 || ms[0].typ != 3 || ms[0].code != 3 || !bytes.Equal(ms[0].body, ip[:min(len(ip), 548)]) {
				t.Fatalf("%+v", ms)
			}
		})
	}
}

func TestUDPLiteInProcNetSNMP(t *testing.T) {
	e := newEnv(t)
	e.send(pkt{proto: protoUDPLite, l4: udpliteL4(0, []byte("x"), ipT, ipM)})
	var b strings.Builder
	e.s.WriteSNMP(&b)
	lines := strings.Split(b.String(), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "UdpLite: InDatagrams NoPorts") {
			if want := "UdpLite: 0 1 0 0 0 0 0 0 0"; lines[i+1] != want {
				t.Fatalf("%q, want %q", lines[i+1], want)
			}
			return
		}
	}
	t.Fatalf("no UdpLite lines in\n%s", b.String())
}
