package netstack

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kaidoku-net/kaidoku/netstack/internal/wire"
	"github.com/kaidoku-net/kaidoku/netstack/socket"
)

func TestProcNetSNMPFormat(t *testing.T) {
	e := newEnv(t)
	e.bound(0, 7000)
	e.send(udpPkt(7000, []byte("x")))
	e.send(udpPkt(7001, []byte("x")))
	e.sent()
	var b bytes.Buffer
	e.s.WriteSNMP(&b)
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	prefixes := []string{"Ip:", "Ip:", "Icmp:", "Icmp:", "IcmpMsg:", "IcmpMsg:", "Tcp:", "Tcp:", "Udp:", "Udp:", "UdpLite:", "UdpLite:"}
	if len(lines) != len(prefixes) {
		t.Fatalf("%d lines:\n%s", len(lines), b.String())
	}
	for i, l := range lines {
		if !strings.HasPrefix(l, prefixes[i]) {
			t.Fatalf("line %d %q", i, l)
		}
	}
	if lines[0] != "Ip: Forwarding DefaultTTL InReceives InHdrErrors InAddrErrors ForwDatagrams InUnknownProtos InDiscards InDelivers OutRequests OutDiscards OutNoRoutes ReasmTimeout ReasmReqds ReasmOKs ReasmFails FragOKs FragFails FragCreates OutTransmits" {
		t.Fatalf("Ip header %q", lines[0])
	}
	if !strings.HasPrefix(lines[1], "Ip: 2 64 2 0 0 0 0 0 2 1 ") {
		t.Fatalf("Ip values %q", lines[1])
	}
	if lines[4] != "IcmpMsg: OutType3" || lines[5] != "IcmpMsg: 1" {
		t.Fatalf("IcmpMsg %q %q", lines[4], lines[5])
	}
	if lines[8] != "Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors" ||
		lines[9] != "Udp: 0 1 0 0 0 0 0 0 0" {
		t.Fatalf("Udp %q %q", lines[8], lines[9])
	}
	b.Reset()
	e.s.WriteNetstat(&b)
	ns := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(ns) != 4 || !strings.HasPrefix(ns[2], "IpExt: InNoRoutes InTruncatedPkts") || len(strings.Fields(ns[2])) != len(strings.Fields(ns[3])) {
		t.Fatalf("netstat %q", ns)
	}
}

func TestProcNetUDPAndSoftnet(t *testing.T) {
	e := newEnv(t)
	s := e.bound(ipM, 7000)
	s.SetsockoptInt(socket.SolSocket, socket.SoRcvbuf, 0)
	e.send(udpPkt(7000, []byte("a")))
	e.send(udpPkt(7000, []byte("b"))) // dropped: queue over 2304
	var b bytes.Buffer
	e.s.WriteProcNetUDP(&b)
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	if len(lines) != 2 || len(lines[0]) != 127 || len(lines[1]) != 127 {
		t.Fatalf("%q", lines)
	}
	f := strings.Fields(lines[1])
	// 10.0.0.5 prints as the little-endian host integer 0500000A; 7000 is 1B58.
	if f[1] != "0500000A:1B58" || f[2] != "00000000:0000" || f[3] != "07" || f[4] != "00000000:00000A40" || f[12] != "1" {
		t.Fatalf("%q", f)
	}
	b.Reset()
	e.s.SetSoftnetNAPI(4, 3)
	e.s.WriteSoftnetStat(&b)
	cols := strings.Fields(b.String())
	if len(cols) != 15 || cols[0] != "00000002" || cols[1] != "00000004" || cols[2] != "00000003" {
		t.Fatalf("%q", cols)
	}
	b.Reset()
	e.s.WriteDevStats(&b)
	e.s.WriteSockstat(&b)
	e.s.WriteDrops(&b)
	e.s.Latency().WriteText(&b)
	if !strings.Contains(b.String(), "SOCKET_RCVBUFF 1") || !strings.Contains(b.String(), "UDP: inuse 1") {
		t.Fatal(b.String())
	}
}

func TestPcapWriter(t *testing.T) {
	e := newEnv(t)
	var w bytes.Buffer
	stop, err := e.s.AddPcap(&w)
	if err != nil {
		t.Fatal(err)
	}
	ip := udpPkt(7001, []byte("pcap"))
	in := ip.frame()
	e.inject(in) // closed port: one ICMP out (after ARP)
	e.sent()
	stop()
	e.inject(in)
	e.sent()
	d := w.Bytes()
	if binary.LittleEndian.Uint32(d) != 0xa1b2c3d4 || binary.LittleEndian.Uint32(d[20:]) != 1 {
		t.Fatal("bad file header")
	}
	d = d[24:]
	var recs [][]byte
	for len(d) >= 16 {
		n := int(binary.LittleEndian.Uint32(d[8:]))
		if int(binary.LittleEndian.Uint32(d[12:])) != n {
			t.Fatal("incl != orig")
		}
		recs = append(recs, d[16:16+n])
		d = d[16+n:]
	}
	// in, ARP request out, ARP reply in, ICMP out.
	if len(recs) != 4 || !bytes.Equal(recs[0], in) || wire.Eth(recs[1]).Type() != wire.EthPARP ||
		wire.IPv4(recs[3][14:]).Protocol() != wire.ProtoICMP {
		t.Fatalf("%d records", len(recs))
	}
}

func TestSocketFuncPacketConn(t *testing.T) {
	e := newEnv(t)
	c, err := e.s.SocketFunc(context.Background(), "udp", syscall.AF_INET, syscall.SOCK_DGRAM, &net.UDPAddr{Port: 7000}, nil)
	if err != nil {
		t.Fatal(err)
	}
	pc := c.(net.PacketConn)
	defer pc.Close()
	if pc.LocalAddr().String() != "0.0.0.0:7000" {
		t.Fatal(pc.LocalAddr())
	}
	e.send(udpPkt(7000, []byte("hello")))
	buf := make([]byte, 100)
	n, from, err := pc.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "hello" || from.String() != "10.0.0.9:40000" {
		t.Fatal(n, from, err)
	}
	if _, err := pc.WriteTo([]byte("reply"), from); err != nil {
		t.Fatal(err)
	}
	out := e.sent()
	if len(out) != 1 || string(out[0][42:]) != "reply" {
		t.Fatalf("%d frames", len(out))
	}
	pc.SetReadDeadline(time.Now().Add(-time.Second))
	if _, _, err := pc.ReadFrom(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal(err)
	}
	// A deadline set while a reader is blocked unblocks it.
	pc.SetReadDeadline(time.Time{})
	done := make(chan error, 1)
	go func() { _, _, err := pc.ReadFrom(buf); done <- err }()
	waitWaiters(t, c.(*socket.Socket), 1)
	pc.SetReadDeadline(time.Now().Add(-time.Millisecond))
	if err := <-done; !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal(err)
	}
	// Dial: a connected socket implementing net.Conn.
	d, err := e.s.SocketFunc(context.Background(), "udp", syscall.AF_INET, syscall.SOCK_DGRAM, nil, &net.UDPAddr{IP: net.IPv4(10, 0, 0, 9), Port: 53})
	if err != nil {
		t.Fatal(err)
	}
	conn := d.(net.Conn)
	if conn.RemoteAddr().String() != "10.0.0.9:53" || conn.LocalAddr().(*net.UDPAddr).IP.String() != "10.0.0.5" {
		t.Fatal(conn.RemoteAddr(), conn.LocalAddr())
	}
	conn.Write([]byte("q"))
	conn.Close()
	if _, err := e.s.SocketFunc(context.Background(), "tcp", syscall.AF_INET, syscall.SOCK_STREAM, &net.TCPAddr{Port: 80}, nil); !errors.Is(err, syscall.EPROTONOSUPPORT) || !strings.Contains(err.Error(), "TCP is not supported") {
		t.Fatal(err)
	}
	if _, _, err := pc.ReadFrom(buf); err == nil {
		t.Fatal("read after close")
	}
}

func TestGratuitousARPAndResolution(t *testing.T) {
	e := newEnv(t)
	e.s.Up()
	fs := e.link.take()
	if len(fs) != 1 {
		t.Fatal(len(fs))
	}
	a := wire.ARP(fs[0][14:])
	if wire.Eth(fs[0]).Dst() != wire.BroadcastMAC || a.Op() != 1 || a.SPA() != ipM || a.TPA() != ipM {
		t.Fatal("not a gratuitous request")
	}
	// A request for our address is answered and teaches us the sender.
	req := make([]byte, 42)
	wire.PutEth(req, wire.BroadcastMAC, macT, wire.EthPARP)
	wire.PutARP(req[14:], 1, macT, ipT, wire.MAC{}, ipM)
	e.inject(req)
	fs = e.link.take()
	if len(fs) != 1 || wire.ARP(fs[0][14:]).Op() != 2 || wire.Eth(fs[0]).Dst() != macT {
		t.Fatal("no reply")
	}
	if mac, _, ok := e.s.neigh.Lookup(ipT); !ok || mac != macT {
		t.Fatal("sender not learnt")
	}
	// Unresolved next hop: queued, solicited three times, then dropped.
	s := e.socket()
	for i := 0; i < 3; i++ {
		s.SendTo([]byte("x"), 0, sa(wire.AddrOf(10, 0, 0, 66), 9))
	}
	if q := e.s.neigh.Queued(wire.AddrOf(10, 0, 0, 66)); q != 3 {
		t.Fatal(q)
	}
	for i := 0; i < 3; i++ {
		e.advance(time.Second)
	}
	reqs := 0
	for _, f := range e.link.take() {
		if wire.Eth(f).Type() == wire.EthPARP {
			reqs++
		}
	}
	if reqs != 3 {
		t.Fatalf("%d solicitations", reqs)
	}
	if _, _, ok := e.s.neigh.Lookup(wire.AddrOf(10, 0, 0, 66)); ok {
		t.Fatal("failed entry kept")
	}
	e.expect(map[string]int64{"Drop.NEIGH_FAILED": 3})
}
