package netstack

import (
	"testing"

	"github.com/kaidoku-net/kaidoku/netstack/socket"
)

// Receive-buffer accounting: SO_RCVBUF, truesize, Udp.RcvbufErrors, SO_RXQ_OVFL and Udp.InDatagrams.

// Checklist item 89: SO_RCVBUF of a new socket is 212992.
func TestDefaultRcvbuf(t *testing.T) {
	e := newEnv(t)
	if v, _ := e.socket().GetsockoptInt(socket.SolSocket, socket.SoRcvbuf); v != 212992 {
		t.Fatal(v)
	}
}

// Checklist item 90: SO_RCVBUF 1000, 100000, 1000000 read back as 2304, 200000, 425984.
func TestRcvbufDoubling(t *testing.T) {
	e := newEnv(t)
	for in, want := range map[int]int{1000: 2304, 100000: 200000, 1000000: 425984} {
		s := e.socket()
		s.SetsockoptInt(socket.SolSocket, socket.SoRcvbuf, in)
		if v, _ := s.GetsockoptInt(socket.SolSocket, socket.SoRcvbuf); v != want {
			t.Fatalf("%d -> %d, want %d", in, v, want)
		}
	}
}

// Checklist item 91: with no reader, datagrams are queued while the queued truesize ≤ SO_RCVBUF,
// the rest dropped (Udp.RcvbufErrors, InErrors, socket drops).
func TestRcvbufFullQueueDrops(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	e.mark()
	for i := 0; i < 300; i++ {
		e.send(udpPkt(7000, make([]byte, 1000)))
	}
	// truesize 2624 each: accepted while the queued truesize is ≤ 212992.
	k := 212992/2624 + 1
	e.expect(map[string]int64{"Udp.RcvbufErrors": int64(300 - k), "Udp.InErrors": int64(300 - k)})
	if int(sockOf(s).Drops()) != 300-k {
		t.Fatalf("drops %d", sockOf(s).Drops())
	}
	if c := readAll(t, []*socket.Socket{s}); c[0] != k {
		t.Fatalf("read %d, want %d", c[0], k)
	}
	e.expect(map[string]int64{"Udp.InDatagrams": int64(k)})
}

// Checklist item 92: SO_RCVBUF 0 still accepts one reassembled 8000-byte datagram into an empty
// queue, not a second.
func TestTinyRcvbufAcceptsOneReassembled(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	s.SetsockoptInt(socket.SolSocket, socket.SoRcvbuf, 0)
	data := bigPayload(8000)
	d := udpDatagram(ipT, ipM, 40000, 7000, data)
	sendFrags := func(id uint16) {
		for off := 0; off < len(d); off += 1480 {
			n := min(1480, len(d)-off)
			e.send(frag(d, off, n, off+n < len(d), id))
		}
	}
	e.mark()
	sendFrags(92)
	sendFrags(93)
	e.expect(map[string]int64{"Ip.ReasmOKs": 2, "Udp.RcvbufErrors": 1})
	mustRecv(t, s, data)
	mustEmpty(t, s)
}

// Checklist item 93: after draining a full queue new datagrams are accepted.
func TestRcvbufDrainReaccepts(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	for i := 0; i < 300; i++ {
		e.send(udpPkt(7000, make([]byte, 1000)))
	}
	readAll(t, []*socket.Socket{s})
	e.mark()
	e.send(udpPkt(7000, []byte("again")))
	mustRecv(t, s, []byte("again"))
	e.expect(map[string]int64{"Udp.RcvbufErrors": 0})
}

// Checklist item 94: SO_RXQ_OVFL: after drops the next datagram carries the cumulative drop count;
// none before any drop.
func TestRxqOvflCountsDrops(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	s.SetsockoptInt(socket.SolSocket, socket.SoRxqOvfl, 1)
	s.SetsockoptInt(socket.SolSocket, socket.SoRcvbuf, 0) // 2304: one datagram queued
	e.send(udpPkt(7000, []byte("first")))
	var m socket.Msghdr
	buf := make([]byte, 100)
	if _, err := s.RecvMsg(buf, socket.MsgDontwait, &m); err != nil || m.HasRxqOvfl {
		t.Fatalf("before drops: %v %+v", err, m)
	}
	e.send(udpPkt(7000, []byte("a")))
	e.send(udpPkt(7000, []byte("dropped1")))
	e.send(udpPkt(7000, []byte("dropped2")))
	s.RecvMsg(buf, socket.MsgDontwait, &m) // "a", enqueued before the drops
	e.send(udpPkt(7000, []byte("after")))
	n, err := s.RecvMsg(buf, socket.MsgDontwait, &m)
	if err != nil || string(buf[:n]) != "after" || !m.HasRxqOvfl || m.RxqOvfl != 2 {
		t.Fatalf("%q %v %+v", buf[:n], err, m)
	}
}

// Checklist item 95: Udp.InDatagrams counts reads, not arrivals or peeks.
func TestInDatagramsCountsReads(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	e.mark()
	for i := 0; i < 5; i++ {
		e.send(udpPkt(7000, []byte{byte(i)}))
	}
	e.expect(map[string]int64{"Udp.InDatagrams": 0})
	buf := make([]byte, 10)
	for i := 0; i < 5; i++ {
		s.RecvFrom(buf, socket.MsgPeek|socket.MsgDontwait, nil)
	}
	e.expect(map[string]int64{"Udp.InDatagrams": 0})
	for i := 0; i < 5; i++ {
		if _, err := s.RecvFrom(buf, socket.MsgDontwait, nil); err != nil {
			t.Fatal(err)
		}
	}
	e.expect(map[string]int64{"Udp.InDatagrams": 5})
}
