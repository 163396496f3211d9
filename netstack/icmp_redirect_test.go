package netstack

import (
	"encoding/binary"
	"errors"
	"syscall"
	"testing"

	"github.com/kaidoku-net/kaidoku/netstack/socket"

	"github.com/kaidoku-net/kaidoku/netstack/internal/wire"
)

// ICMP errors are handed to the quoted protocol's error handler
// (icmp_socket_deliver), redirects included (icmp_redirect); a handler
// finding no socket for the quoted datagram counts Icmp.InErrors, as
// does a message too short to quote what the handler needs.

// icmpError builds an ICMP message of type typ/code from the peer with
// rest as its second word, quoting q.
func icmpError(typ, code uint8, rest uint32, q []byte) pkt {
	b := make([]byte, 8+len(q))
	b[0], b[1] = typ, code
	binary.BigEndian.PutUint32(b[4:], rest)
	copy(b[8:], q)
	binary.BigEndian.PutUint16(b[2:], wire.CsumFold(wire.Checksum(b, 0)))
	return pkt{proto: wire.ProtoICMP, l4: b}
}

// quoted is the start of a datagram this host sent to the peer:
// a 20-byte header and the first 8 bytes of l4.
func quoted(proto uint8, l4 []byte) []byte {
	q := make([]byte, 20+len(l4))
	wire.PutIPv4(q, 0, 20+len(l4), 1, 0, 64, proto, ipM, ipT)
	copy(q[20:], l4)
	return q
}

func TestICMPErrorAccounting(t *testing.T) {
	udp := make([]byte, 8)
	wire.PutUDP(udp, 7000, 53, 8)
	tcp := tcpSeg(tcpSYN, 1, 0, nil)[:8]
	gw := uint32(wire.AddrOf(10, 0, 0, 1))
	tests := []struct {
		name string
		p    pkt
		want map[string]int64
	}{
		{"redirect shorter than an IP header", icmpError(5, 1, gw, make([]byte, 10)),
			map[string]int64{"Icmp.InRedirects": 1, "Icmp.InErrors": 1, "Drop.PKT_TOO_SMALL": 1}},
		{"redirect quoting a header without 8 bytes", icmpError(5, 1, gw, quoted(wire.ProtoUDP, udp[:4])),
			map[string]int64{"Icmp.InRedirects": 1, "Icmp.InErrors": 1, "Drop.CONSUMED": 1}},
		{"redirect quoting UDP, no socket", icmpError(5, 1, gw, quoted(wire.ProtoUDP, udp)),
			map[string]int64{"Icmp.InRedirects": 1, "Icmp.InErrors": 1, "Drop.CONSUMED": 1}},
		{"redirect quoting TCP", icmpError(5, 1, gw, quoted(wire.ProtoTCP, tcp)),
			map[string]int64{"Icmp.InRedirects": 1, "Icmp.InErrors": 1, "Drop.CONSUMED": 1}},
		{"redirect quoting IPPROTO_RAW", icmpError(5, 1, gw, quoted(255, udp)),
			map[string]int64{"Icmp.InRedirects": 1, "Icmp.InErrors": 1}},
		{"redirect quoting an unregistered protocol", icmpError(5, 1, gw, quoted(253, udp)),
			map[string]int64{"Icmp.InRedirects": 1, "Icmp.InErrors": 0, "Drop.CONSUMED": 1}},
		{"port unreachable quoting TCP", icmpError(3, 3, 0, quoted(wire.ProtoTCP, tcp)),
			map[string]int64{"Icmp.InDestUnreachs": 1, "Icmp.InErrors": 1}},
		{"time exceeded quoting TCP", icmpError(11, 0, 0, quoted(wire.ProtoTCP, tcp)),
			map[string]int64{"Icmp.InTimeExcds": 1, "Icmp.InErrors": 1}},
		{"port unreachable quoting UDP-Lite", icmpError(3, 3, 0, quoted(protoUDPLite, udp)),
			map[string]int64{"Icmp.InDestUnreachs": 1, "Icmp.InErrors": 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.send(tc.p)
			want := map[string]int64{"Ip.InReceives": 1, "Icmp.InMsgs": 1, "Ip.InDelivers": 1}
			for k, v := range tc.want {
				want[k] = v
			}
			e.expectOnly(want)
			e.mustSendNothing()
		})
	}
}

// A redirect about a datagram from a socket reaches the socket's handler,
// which ignores it (__udp4_lib_err): nothing is counted.
func TestICMPRedirectToUDPSocket(t *testing.T) {
	e := newEnv(t)
	e.bound(0, 7000)
	e.mark()
	udp := make([]byte, 8)
	wire.PutUDP(udp, 7000, 53, 8)
	e.send(icmpError(5, 1, uint32(wire.AddrOf(10, 0, 0, 1)), quoted(wire.ProtoUDP, udp)))
	e.expectOnly(map[string]int64{"Ip.InReceives": 1, "Icmp.InMsgs": 1, "Icmp.InRedirects": 1, "Ip.InDelivers": 1})
}

// Checklist item 106: a port unreachable for a connected socket fails the next recvfrom once with
// ECONNREFUSED; an unconnected socket without IP_RECVERR sees nothing.
func TestICMPErrorOnConnectedSocket(t *testing.T) {
	e := newEnv(t)
	c := e.bound(0, 7000)
	if err := c.Connect(sa(ipT, 9000)); err != nil {
		t.Fatal(err)
	}
	u := e.bound(0, 7001)
	e.send(udpPkt(7000, []byte("queued"))) // not from the peer: not delivered
	p := udpPkt(7000, []byte("data"))
	p.sport = 9000
	e.send(p)
	e.mark()
	e.send(portUnreachQuoting(7000, 9000, ipT))
	e.send(portUnreachQuoting(7001, 9000, ipT))
	e.expect(map[string]int64{"Icmp.InDestUnreachs": 2, "Icmp.InErrors": 0})
	if _, err := c.RecvFrom(make([]byte, 10), socket.MsgDontwait, nil); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("got %v", err)
	}
	mustRecv(t, c, []byte("data"))
	if _, _, err := recvNB(t, u, 10); !errors.Is(err, syscall.EAGAIN) {
		t.Fatalf("unconnected socket saw %v", err)
	}
	// No socket for the quoted datagram: Icmp.InErrors.
	e.mark()
	e.send(portUnreachQuoting(7999, 9000, ipT))
	e.expect(map[string]int64{"Icmp.InErrors": 1})
}
