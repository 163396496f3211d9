package testbench

import (
	"net"
	"net/netip"
	"testing"
	"time"
)

// fakeGuest answers UDP to port 7 on the guest side of a datagram backend,
// dropping every dropEvery-th request, so the bench's own logic is tested
// without QEMU.
func fakeGuest(t *testing.T, port, benchPort, dropEvery int) {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	bench := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: benchPort}
	go func() {
		buf := make([]byte, 2048)
		n := 0
		for {
			l, _, err := c.ReadFromUDP(buf)
			if err != nil {
				return
			}
			p := Parse(buf[:l])
			if p.DstPort != 7 {
				continue
			}
			if n++; dropEvery > 0 && n%dropEvery == 0 {
				continue
			}
			u := UDP{Src: netip.AddrPortFrom(p.IPDst, 7), Dst: netip.AddrPortFrom(p.IPSrc, p.SrcPort), Payload: p.UDPData}
			c.WriteToUDP(Ether(p.Src, p.Dst, 0x0800, -1, u.Packet().Bytes()), bench)
		}
	}()
}

func TestEchoAgainstFakeGuest(t *testing.T) {
	tests := []struct {
		name      string
		inFlight  int
		dropEvery int
	}{
		{"sequential", 1, 0},
		{"windowed", 8, 0},
		{"lossy", 4, 10},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, nd, err := Listen(MAC{2, 0, 0, 0, 0, 1}, guest)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			fakeGuest(t, nd.GuestSide, nd.BenchSide, tc.dropEvery)
			r := b.Echo(EchoOptions{Src: netip.AddrPortFrom(tester, 5000), Port: 7, Size: 64, InFlight: tc.inFlight, Count: 200, Timeout: 100 * time.Millisecond})
			if r.Received+r.Lost != r.Sent || r.Sent < 200 {
				t.Fatalf("sent %d received %d lost %d", r.Sent, r.Received, r.Lost)
			}
			if tc.dropEvery == 0 && r.Lost != 0 {
				t.Fatalf("lost %d on a lossless path", r.Lost)
			}
			if tc.dropEvery > 0 && r.Lost == 0 {
				t.Fatal("drops not noticed")
			}
			if len(r.RTTs) != r.Received || r.Percentile(0.5) <= 0 {
				t.Fatalf("rtts %d p50 %v", len(r.RTTs), r.Percentile(0.5))
			}
		})
	}
}

func TestBenchAnswersARP(t *testing.T) {
	b, nd, err := Listen(MAC{2, 0, 0, 0, 0, 1}, guest)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: nd.GuestSide})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	bench := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: nd.BenchSide}
	for _, target := range []netip.Addr{tester, guest} {
		req := Ether(Broadcast, MAC{2, 0, 0, 0, 0, 1}, 0x0806, -1, ARP(ARPRequest, MAC{2, 0, 0, 0, 0, 1}, guest, MAC{}, target))
		c.WriteToUDP(req, bench)
	}
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 2048)
	n, _, err := c.ReadFromUDP(buf)
	if err != nil {
		t.Fatal(err)
	}
	p := Parse(buf[:n])
	if p.ARPOp != ARPReply || p.ARPSenderIP != tester || p.ARPSender != b.MAC {
		t.Fatalf("reply %+v", p)
	}
	c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if _, _, err := c.ReadFromUDP(buf); err == nil {
		t.Fatal("bench answered ARP for the guest's own address")
	}
	if b.ARPRequests(tester) != 1 || b.ARPRequests(guest) != 1 {
		t.Fatal("ARP requests not counted")
	}
}

func TestReassembleOutOfOrder(t *testing.T) {
	payload := make([]byte, 4000)
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	src := netip.AddrPortFrom(guest, 161)
	dst := netip.AddrPortFrom(tester, 5000)
	u := UDP{Src: src, Dst: dst, Payload: payload}
	pkt := u.Packet()
	pkt.ID = 77
	var frags []Parsed
	for _, f := range Fragment(pkt, 1480, 1480) {
		frags = append([]Parsed{Parse(Ether(MAC{}, MAC{}, 0x0800, -1, f.Bytes()))}, frags...)
	}
	if _, ok := reassemble(frags[:2], src, dst); ok {
		t.Fatal("reassembled from two of three fragments")
	}
	got, ok := reassemble(frags, src, dst)
	if !ok || string(got) != string(payload) {
		t.Fatalf("reassembly ok=%v len=%d", ok, len(got))
	}
}
