package netstack

import (
	"encoding/binary"
	"testing"

	"github.com/kaidoku-net/kaidoku/netstack/internal/wire"
)

// Ethernet receive: eth_type_trans classification, VLAN tags, padding and in-order delivery.

// Checklist item 1: a valid UDP datagram to an open port is delivered with exactly its payload;
// Ip.InReceives, Ip.InDelivers +1, Udp.InDatagrams +1 once read.
func TestValidDatagramDelivered(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	e.mark()
	e.send(udpPkt(7000, []byte("payload-1")))
	e.expect(map[string]int64{"Ip.InReceives": 1, "Ip.InDelivers": 1, "Udp.InDatagrams": 0})
	mustRecv(t, s, []byte("payload-1"))
	e.expectOnly(map[string]int64{"Ip.InReceives": 1, "Ip.InDelivers": 1, "Udp.InDatagrams": 1})
}

// Checklist item 2: a frame of an unknown EtherType (0x88B5) with no tap counts the device
// rx_dropped and no Ip/Udp counter.
func TestUnknownEtherTypeRxDropped(t *testing.T) {
	e := newEnv(t)
	f := make([]byte, 60)
	wire.PutEth(f, macM, macT, 0x88b5)
	rx := e.s.dev.Stats.RxDropped.Load()
	e.inject(f)
	e.expectOnly(nil)
	if d := e.s.dev.Stats.RxDropped.Load() - rx; d != 1 {
		t.Fatalf("rx_dropped %+d", d)
	}
	e.expect(map[string]int64{"Drop.UNHANDLED_PROTO": 1})
	// With a tap the frame is not counted as dropped: __netif_receive_skb_core
	// delivered it to the tap before finding no protocol handler.
	stop := e.s.dev.AddTap(func([]byte, bool) {})
	e.inject(f)
	stop()
	if d := e.s.dev.Stats.RxDropped.Load() - rx; d != 1 {
		t.Fatalf("rx_dropped with tap %+d", d)
	}
}

// Checklist item 3: an IPv4 frame to another host's unicast MAC is dropped before IP
// (PACKET_OTHERHOST): rx_otherhost_dropped +1, Ip.InReceives +0.
func TestForeignUnicastMACDroppedAsOtherhost(t *testing.T) {
	e := newEnv(t)
	e.bound(0, 7000)
	e.mark()
	p := udpPkt(7000, []byte("x"))
	p.dstMAC = wire.MAC{0x02, 0, 0, 0, 0, 0x77}
	oh := e.s.dev.Stats.RxOtherhostDropped.Load()
	e.send(p)
	e.expectOnly(nil)
	if d := e.s.dev.Stats.RxOtherhostDropped.Load() - oh; d != 1 {
		t.Fatalf("rx_otherhost_dropped %+d", d)
	}
}

// Checklist item 4: a unicast-IP datagram in an Ethernet broadcast frame is delivered.
func TestUnicastIPInL2BroadcastDelivered(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	p := udpPkt(7000, []byte("b"))
	p.dstMAC = wire.BroadcastMAC
	e.send(p)
	mustRecv(t, s, []byte("b"))
}

// Checklist item 5: the same frame to a closed port counts Udp.NoPorts and sends no ICMP (not
// PACKET_HOST).
func TestL2BroadcastClosedPortNoICMP(t *testing.T) {
	e := newEnv(t)
	p := udpPkt(7001, []byte("b"))
	p.dstMAC = wire.BroadcastMAC
	e.send(p)
	e.expect(map[string]int64{"Udp.NoPorts": 1, "Icmp.OutMsgs": 0})
	e.mustSendNothing()
}

// Checklist item 6: a unicast-IP datagram in an all-hosts multicast frame to a closed port counts
// Udp.NoPorts and sends no ICMP.
func TestL2MulticastClosedPortNoICMP(t *testing.T) {
	e := newEnv(t)
	p := udpPkt(7001, []byte("m"))
	p.dstMAC = wire.MAC{0x01, 0x00, 0x5e, 0, 0, 1}
	e.send(p)
	e.expect(map[string]int64{"Udp.NoPorts": 1, "Icmp.OutMsgs": 0})
	e.mustSendNothing()
}

// Checklist item 7: an 802.1Q frame with VID 100 and no VLAN device is dropped as PACKET_OTHERHOST:
// Ip.InReceives +0.
func TestVLANTaggedDroppedAsOtherhost(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	e.mark()
	p := udpPkt(7000, []byte("v"))
	p.tagged, p.vid = true, 100
	e.send(p)
	e.expectOnly(nil)
	mustEmpty(t, s)
	if e.s.dev.Stats.RxOtherhostDropped.Load() != 1 {
		t.Fatal("not counted as otherhost")
	}
}

// Checklist item 8: an 802.1Q priority-tagged frame (VID 0) is delivered.
func TestVLANPriorityTagDelivered(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	p := udpPkt(7000, []byte("prio"))
	p.tagged, p.vid = true, 0x6000 // PCP 3, VID 0
	e.send(p)
	mustRecv(t, s, []byte("prio"))
}

// Checklist item 9: a 60-byte frame holding an empty datagram and 18 bytes of Ethernet padding
// delivers 0 bytes.
func TestPaddedMinimumFrameEmptyDatagram(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	p := udpPkt(7000, nil)
	p.trailer = make([]byte, 18)
	f := p.frame()
	if len(f) != 60 || wire.IPv4(f[14:]).TotLen() != 28 {
		t.Fatalf("frame %d tot_len %d", len(f), wire.IPv4(f[14:]).TotLen())
	}
	e.inject(f)
	buf := make([]byte, 10)
	var from [1]byte
	_ = from
	n, err := s.RecvFrom(buf, 0x40, nil)
	if err != nil || n != 0 {
		t.Fatalf("n=%d err=%v", n, err)
	}
}

// Checklist item 10: 2000 back-to-back datagrams, read as they come with a large SO_RCVBUF, all
// arrive in order.
func TestBackToBackDatagramsInOrder(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	if err := s.SetsockoptInt(1, 33, 8<<20); err != nil { // SO_RCVBUFFORCE
		t.Fatal(err)
	}
	next := 0
	buf := make([]byte, 64)
	for i := 0; i < 2000; i++ {
		var p [4]byte
		binary.BigEndian.PutUint32(p[:], uint32(i))
		e.send(udpPkt(7000, p[:]))
		if i%100 == 99 {
			for {
				n, err := s.RecvFrom(buf, 0x40, nil)
				if err != nil {
					break
				}
				if n != 4 || int(binary.BigEndian.Uint32(buf)) != next {
					t.Fatalf("got %d, want %d", binary.BigEndian.Uint32(buf), next)
				}
				next++
			}
		}
	}
	if next != 2000 {
		t.Fatalf("received %d", next)
	}
}
