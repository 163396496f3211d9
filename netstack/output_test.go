package netstack

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/kaidoku-net/kaidoku/netstack/internal/wire"
	"github.com/kaidoku-net/kaidoku/netstack/latency"
	"github.com/kaidoku-net/kaidoku/netstack/skb"
	"github.com/kaidoku-net/kaidoku/netstack/socket"
)

func TestSendFragmentsAboveMTU(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	data := bigPayload(3000)
	if n, err := s.SendTo(data, 0, sa(ipT, 9000)); err != nil || n != 3000 {
		t.Fatal(n, err)
	}
	fs := e.sent()
	if len(fs) != 3 {
		t.Fatalf("%d frames", len(fs))
	}
	var body []byte
	for i, f := range fs {
		h := wire.IPv4(f[14:])
		if wire.IPHeaderChecksum(h[:20]) != 0 || h.TTL() != 64 || h.FragOff()&wire.IPFlagDF != 0 {
			t.Fatalf("frag %d header", i)
		}
		if int(h.FragOff()&wire.IPOffset)*8 != len(body) || (h.FragOff()&wire.IPFlagMF != 0) != (i < 2) {
			t.Fatalf("frag %d offset %#x", i, h.FragOff())
		}
		if h.ID() != wire.IPv4(fs[0][14:]).ID() {
			t.Fatal("IDs differ")
		}
		body = append(body, f[34:14+h.TotLen()]...)
	}
	u := wire.UDP(body)
	if u.Len() != 3008 || wire.CsumFold(wire.Checksum(body, wire.PseudoSum(ipM, ipT, wire.ProtoUDP, len(body)))) != 0 ||
		!bytes.Equal(body[8:], data) {
		t.Fatal("reassembled UDP datagram wrong")
	}
	e.expect(map[string]int64{"Ip.OutRequests": 1, "Ip.FragOKs": 1, "Ip.FragCreates": 3, "Ip.OutTransmits": 3, "Udp.OutDatagrams": 1})
}

func TestSendSmallDFAndConnectedIDs(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	s.SendTo([]byte("a"), 0, sa(ipT, 9000))
	fs := e.sent()
	h := wire.IPv4(fs[0][14:])
	if h.FragOff() != wire.IPFlagDF || h.ID() != 0 {
		t.Fatalf("unconnected DF datagram: frag %#x id %d", h.FragOff(), h.ID())
	}
	if err := s.Connect(sa(ipT, 9000)); err != nil {
		t.Fatal(err)
	}
	s.Send([]byte("b"), 0)
	s.Send([]byte("c"), 0)
	fs = e.sent()
	a, b := wire.IPv4(fs[0][14:]), wire.IPv4(fs[1][14:])
	if b.ID() != a.ID()+1 || wire.UDP(fs[0][34:]).SrcPort() != 7000 {
		t.Fatalf("connected IDs %d %d", a.ID(), b.ID())
	}
}

func TestSendViaGatewayAndNoRoute(t *testing.T) {
	e := newEnv(t)
	s := e.socket()
	if _, err := s.SendTo([]byte("x"), 0, sa(wire.AddrOf(8, 8, 8, 8), 53)); err == nil {
		t.Fatal("no default route, but sent")
	}
	e.expect(map[string]int64{"Ip.OutNoRoutes": 1})
	g := newEnv(t, func(c *Config) { c.Gateway = [4]byte{10, 0, 0, 1} })
	s = g.socket()
	if _, err := s.SendTo([]byte("x"), 0, sa(wire.AddrOf(8, 8, 8, 8), 53)); err != nil {
		t.Fatal(err)
	}
	fs := g.sent()
	if len(fs) != 1 || wire.Eth(fs[0]).Dst() != macOf(wire.AddrOf(10, 0, 0, 1)) || wire.IPv4(fs[0][14:]).Dst() != wire.AddrOf(8, 8, 8, 8) {
		t.Fatal("not sent via the gateway")
	}
	// Broadcast needs SO_BROADCAST.
	if _, err := s.SendTo([]byte("x"), 0, sa(ipBcst, 9)); err == nil {
		t.Fatal("broadcast without SO_BROADCAST")
	}
	s.SetsockoptInt(socket.SolSocket, socket.SoBroadcast, 1)
	if _, err := s.SendTo([]byte("x"), 0, sa(ipBcst, 9)); err != nil {
		t.Fatal(err)
	}
	if fs := g.sent(); len(fs) != 1 || wire.Eth(fs[0]).Dst() != wire.BroadcastMAC {
		t.Fatal("broadcast frame")
	}
}

func TestLatencyTrace(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	now := e.clk.Now()
	p := udpPkt(7000, []byte("t"))
	e.injectMod(p.frame(), func(b *skb.Buffer) { b.Trace.T0, b.Trace.T1 = now-3000, now-2000 })
	e.clk.Advance(5000)
	mustRecv(t, s, []byte("t"))
	tr := e.s.udp.Latency
	if tr.Total.Count() != 1 || tr.Total.Max() != 8000 || tr.IRQ.Max() != 1000 || tr.Stack.Max() != 2000 || tr.Wakeup.Max() != 5000 {
		t.Fatalf("total %d irq %d stack %d wakeup %d", tr.Total.Max(), tr.IRQ.Max(), tr.Stack.Max(), tr.Wakeup.Max())
	}
}

// With the trace on (the default) each datagram read is one sample in
// every part; with Config.NoLatencyTrace datagrams stamped by the driver
// are received as ever, nothing is recorded and Latency is nil. (A peek
// records nothing either way.)
func TestLatencyTraceOnOff(t *testing.T) {
	for _, off := range []bool{false, true} {
		t.Run(fmt.Sprintf("off=%v", off), func(t *testing.T) {
			e := newEnv(t, func(c *Config) { c.NoLatencyTrace = off })
			s := e.bound(0, 7000)
			const n = 3
			for i := range n {
				now := e.clk.Now()
				p := udpPkt(7000, []byte{byte(i)})
				e.injectMod(p.frame(), func(b *skb.Buffer) { b.Trace.T0, b.Trace.T1 = now-3000, now-2000 })
			}
			e.clk.Advance(5000)
			buf := make([]byte, 16)
			var from socket.Sockaddr
			if _, err := s.RecvFrom(buf, socket.MsgPeek|socket.MsgDontwait, &from); err != nil {
				t.Fatal(err)
			}
			for i := range n {
				mustRecv(t, s, []byte{byte(i)})
			}
			tr := e.s.Latency()
			if off {
				if tr != nil {
					t.Fatalf("trace off: Latency() %v", tr)
				}
				return
			}
			if tr == nil {
				t.Fatal("trace on: Latency() nil")
			}
			for name, h := range map[string]*latency.Histogram{"total": &tr.Total, "irq": &tr.IRQ, "stack": &tr.Stack, "wakeup": &tr.Wakeup} {
				if h.Count() != n {
					t.Errorf("%s: %d samples, want %d", name, h.Count(), n)
				}
			}
		})
	}
}

// udp_mem: with udp_mem = [0 0 0] every charge fails once the global
// counter moves, which happens only when the per-CPU reserve folds in
// 256 pages (1 MiB): the first ≈1 MiB is accepted, as on Linux.
func TestUDPMemLimitMemErrors(t *testing.T) {
	e := newEnvPool(t, 700)
	e.s.udp.SetMemLimits([3]int64{0, 0, 0})
	s := e.bound(0, 7000)
	s.SetsockoptInt(socket.SolSocket, socket.SoRcvbufforce, 16<<20)
	e.mark()
	for i := 0; i < 600; i++ {
		e.send(udpPkt(7000, []byte("m")))
	}
	mem := e.delta("Udp.MemErrors")
	queued := 600 - mem
	if mem == 0 || queued < 380 || queued > 420 {
		t.Fatalf("MemErrors %d, queued %d", mem, queued)
	}
	e.expect(map[string]int64{"Udp.RcvbufErrors": 0, "Udp.InErrors": mem, "Drop.PROTO_MEM": mem})
	if int64(sockOf(s).Drops()) != mem {
		t.Fatal("sk_drops")
	}
	if got := e.s.udp.MemAllocated(); got != 256 {
		t.Fatalf("udp_memory_allocated %d pages", got)
	}
	readAll(t, []*socket.Socket{s})
}
