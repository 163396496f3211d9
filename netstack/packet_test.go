package netstack

import (
	"bytes"
	"encoding/binary"
	"errors"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kaidoku-net/kaidoku/netstack/internal/wire"
	"github.com/kaidoku-net/kaidoku/netstack/skb"
	"github.com/kaidoku-net/kaidoku/netstack/socket"
)

const ethPTest = 0x88b5 // IEEE local experimental EtherType: no handler

// packetSock opens a packet socket closed at cleanup, bound to ifindex
// (when non-zero) with protocol proto (host order).
func (e *env) packetSock(typ int, proto uint16, ifindex int) *socket.PacketSocket {
	e.t.Helper()
	ps, err := e.s.PacketSocket(typ|socket.SockNonblock, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { ps.Close() })
	if err := ps.Bind(&socket.SockaddrLL{Family: socket.AFPacket, Protocol: socket.Htons(proto), Ifindex: int32(ifindex)}); err != nil {
		e.t.Fatal(err)
	}
	return ps
}

func rawFrame(dst, src wire.MAC, typ uint16, payload string) []byte {
	f := make([]byte, 14+len(payload))
	wire.PutEth(f, dst, src, typ)
	copy(f[14:], payload)
	return f
}

// packet_rcv: pkt_type from eth_type_trans, the sockaddr_ll and the data
// from the link header (SOCK_RAW) or the network header (SOCK_DGRAM).
func TestPacketRcvSockaddrLL(t *testing.T) {
	group := wire.MAC{0x01, 0x00, 0x5e, 0x00, 0x00, 0x01}
	other := wire.MAC{0x02, 0, 0, 0, 0, 0x77}
	for _, tc := range []struct {
		name    string
		dst     wire.MAC
		typ     int
		pkttype uint8
	}{
		{"host raw", macM, socket.SockRaw, socket.PacketHost},
		{"broadcast raw", wire.MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, socket.SockRaw, socket.PacketBroadcast},
		{"multicast raw", group, socket.SockRaw, socket.PacketMulticast},
		{"otherhost raw", other, socket.SockRaw, socket.PacketOtherHost},
		{"host dgram", macM, socket.SockDgram, socket.PacketHost},
		{"otherhost dgram", other, socket.SockDgram, socket.PacketOtherHost},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			ps := e.packetSock(tc.typ, socket.EthPAll, 2)
			f := rawFrame(tc.dst, macT, ethPTest, "frame for a packet socket")
			e.mark()
			e.inject(f)
			// A packet socket took the frame: not an unhandled-protocol drop.
			e.expect(map[string]int64{"Drop.UNHANDLED_PROTO": 0})
			buf := make([]byte, 200)
			var m socket.PacketMsghdr
			n, err := ps.RecvMsg(buf, 0, &m)
			if err != nil {
				t.Fatal(err)
			}
			want := f
			if tc.typ == socket.SockDgram {
				want = f[14:]
			}
			if !bytes.Equal(buf[:n], want) {
				t.Errorf("data %x, want %x", buf[:n], want)
			}
			wantSA := socket.SockaddrLL{Family: socket.AFPacket, Protocol: socket.Htons(ethPTest), Ifindex: 2,
				Hatype: 1, Pkttype: tc.pkttype, Halen: 6}
			copy(wantSA.Addr[:], macT[:])
			if m.Name != wantSA || m.Namelen != socket.SizeofSockaddrLL {
				t.Errorf("sockaddr_ll %+v len %d, want %+v len 20", m.Name, m.Namelen, wantSA)
			}
		})
	}
}

// Without a packet socket an unknown EtherType is rx_dropped
// (UNHANDLED_PROTO); a socket of another EtherType does not change that.
func TestPacketUnhandledProtoStillCounted(t *testing.T) {
	e := newEnv(t)
	e.packetSock(socket.SockRaw, wire.EthPIP, 0)
	e.mark()
	e.inject(rawFrame(macM, macT, ethPTest, "nobody"))
	e.expect(map[string]int64{"Drop.UNHANDLED_PROTO": 1})
	if e.s.dev.Stats.RxDropped.Load() != 1 {
		t.Errorf("rx_dropped %d", e.s.dev.Stats.RxDropped.Load())
	}
}

// ETH_P_ALL sockets see transmitted frames as PACKET_OUTGOING
// (dev_queue_xmit_nit); a socket of one EtherType sees only received
// frames of it (ptype_base); a socket bound to an interface sees only it.
func TestPacketOutgoingAndProtocol(t *testing.T) {
	e := newEnv(t)
	all := e.packetSock(socket.SockRaw, socket.EthPAll, 0)
	ipOnly := e.packetSock(socket.SockDgram, wire.EthPIP, 2)
	loOnly := e.packetSock(socket.SockRaw, socket.EthPAll, 1)
	inPkt := udpPkt(7001, []byte("to a closed port"))
	in := inPkt.frame()
	e.inject(in) // answered by an ICMP port unreachable after ARP
	out := e.sent()
	if len(out) != 1 {
		t.Fatalf("%d frames sent", len(out))
	}
	type got struct {
		pkttype uint8
		proto   uint16
		data    []byte
	}
	drain := func(ps *socket.PacketSocket) []got {
		var g []got
		for {
			buf := make([]byte, 2048)
			var from socket.SockaddrLL
			n, err := ps.RecvFrom(buf, 0, &from)
			if errors.Is(err, syscall.EAGAIN) {
				return g
			}
			if err != nil {
				t.Fatal(err)
			}
			g = append(g, got{from.Pkttype, socket.Htons(from.Protocol), buf[:n]})
		}
	}
	a := drain(all)
	// in, ARP request out, ARP reply in, ICMP out.
	if len(a) != 4 || a[0].pkttype != socket.PacketHost || !bytes.Equal(a[0].data, in) ||
		a[1].pkttype != socket.PacketOutgoing || a[1].proto != wire.EthPARP ||
		a[2].pkttype != socket.PacketHost || a[2].proto != wire.EthPARP ||
		a[3].pkttype != socket.PacketOutgoing || a[3].proto != wire.EthPIP || !bytes.Equal(a[3].data, out[0]) {
		t.Errorf("ETH_P_ALL saw %+v", a)
	}
	ip := drain(ipOnly)
	if len(ip) != 1 || !bytes.Equal(ip[0].data, in[14:]) {
		t.Errorf("ETH_P_IP saw %+v", ip)
	}
	if l := drain(loOnly); len(l) != 0 {
		t.Errorf("bound to lo saw %+v", l)
	}
}

// Loopback traffic shows on lo twice, as sent and as received; the copy
// dev_loopback_xmit loops back (PACKET_LOOPBACK) is never delivered.
func TestPacketLoopback(t *testing.T) {
	e := newEnv(t)
	lo := e.packetSock(socket.SockDgram, socket.EthPAll, 1)
	u := e.bound(wire.AddrOf(127, 0, 0, 1), 7000)
	if _, err := u.SendTo([]byte("over lo"), 0, sa(wire.AddrOf(127, 0, 0, 1), 7000)); err != nil {
		t.Fatal(err)
	}
	var types []uint8
	for {
		buf := make([]byte, 2048)
		var from socket.SockaddrLL
		_, err := lo.RecvFrom(buf, 0, &from)
		if err != nil {
			break
		}
		if from.Ifindex != 1 || from.Hatype != 772 {
			t.Errorf("sockaddr_ll %+v", from)
		}
		types = append(types, from.Pkttype)
	}
	if len(types) != 2 || types[0] != socket.PacketOutgoing || types[1] != socket.PacketHost {
		t.Errorf("pkttypes %v, want [4 0]", types)
	}
}

// Receive-buffer accounting: a frame is refused once sk_rmem_alloc has
// reached sk_rcvbuf, counting tp_drops, sk_drops and PACKET_SOCK_ERROR;
// PACKET_STATISTICS counts the drops in tp_packets too and resets.
func TestPacketRcvbufStatistics(t *testing.T) {
	for _, tc := range []struct {
		name             string
		truesize, frames int
		queued           int
	}{
		// SO_RCVBUF 1 gives SOCK_MIN_RCVBUF, 2304: the check is before
		// charging, so a 1280-byte frame fits twice (0, 1280 < 2304).
		{"small frames", 1280, 5, 2},
		{"large frames", 2816, 4, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			ps := e.packetSock(socket.SockRaw, ethPTest, 0)
			if err := ps.SetsockoptInt(socket.SolSocket, socket.SoRcvbuf, 1); err != nil {
				t.Fatal(err)
			}
			if v, _ := ps.GetsockoptInt(socket.SolSocket, socket.SoRcvbuf); v != 2304 {
				t.Fatalf("SO_RCVBUF %d", v)
			}
			e.mark()
			for i := 0; i < tc.frames; i++ {
				e.injectMod(rawFrame(macM, macT, ethPTest, "x"), func(b *skb.Buffer) { b.Truesize = tc.truesize })
			}
			drops := tc.frames - tc.queued
			e.expect(map[string]int64{"Drop.PACKET_SOCK_ERROR": int64(drops)})
			if got := packetSockOf(ps).RmemAlloc(); got != tc.queued*tc.truesize {
				t.Errorf("rmem %d", got)
			}
			st, err := ps.Statistics()
			if err != nil || st.Packets != uint32(tc.frames) || st.Drops != uint32(drops) {
				t.Errorf("statistics %+v %v, want packets %d drops %d", st, err, tc.frames, drops)
			}
			if st, _ := ps.Statistics(); st != (socket.TpacketStats{}) {
				t.Errorf("second read %+v, want zero", st)
			}
			// SO_RXQ_OVFL reports sk_drops sampled at enqueue.
			ps.SetsockoptInt(socket.SolSocket, socket.SoRxqOvfl, 1)
			e.injectMod(rawFrame(macM, macT, ethPTest, "y"), func(b *skb.Buffer) { b.Truesize = tc.truesize })
			for i := 0; i < tc.queued; i++ {
				ps.RecvFrom(make([]byte, 64), 0, nil)
			}
			if packetSockOf(ps).RmemAlloc() != 0 {
				t.Errorf("rmem %d after reading", packetSockOf(ps).RmemAlloc())
			}
			e.injectMod(rawFrame(macM, macT, ethPTest, "z"), func(b *skb.Buffer) { b.Truesize = tc.truesize })
			var m socket.PacketMsghdr
			if _, err := ps.RecvMsg(make([]byte, 64), 0, &m); err != nil || !m.HasRxqOvfl || m.RxqOvfl != uint32(drops+1) {
				t.Errorf("rxq_ovfl %v %d (%v), want %d", m.HasRxqOvfl, m.RxqOvfl, err, drops+1)
			}
		})
	}
}

// PACKET_AUXDATA: the original and captured lengths, the network offset,
// the checksum state and an 802.1Q tag taken out of the frame, which the
// SOCK_RAW data no longer holds.
func TestPacketAuxdata(t *testing.T) {
	const user, valid = socket.TPStatusUser, socket.TPStatusUser | socket.TPStatusCsumValid
	for _, tc := range []struct {
		name       string
		tagged     bool
		typ        int
		bufLen     int
		summed     skb.Checksum
		badCsum    bool
		trailer    []byte
		wantStatus uint32
		wantNet    uint16
	}{
		// GRO's udp4_gro_receive found the checksum good.
		{"raw", false, socket.SockRaw, 2048, skb.ChecksumNone, false, nil, valid, 14},
		{"raw device validated", false, socket.SockRaw, 2048, skb.ChecksumUnnecessary, false, nil, valid, 14},
		{"dgram", false, socket.SockDgram, 2048, skb.ChecksumNone, false, nil, valid, 0},
		{"raw truncated", false, socket.SockRaw, 20, skb.ChecksumNone, false, nil, valid, 14},
		// Left to the UDP layer: a bad checksum, a frame GRO flushes.
		{"bad checksum", false, socket.SockRaw, 2048, skb.ChecksumNone, true, nil, user, 14},
		{"padded", false, socket.SockRaw, 2048, skb.ChecksumNone, false, []byte{0, 0, 0, 0}, user, 14},
		{"tagged raw", true, socket.SockRaw, 2048, skb.ChecksumNone, false, nil,
			socket.TPStatusUser | socket.TPStatusVlanValid | socket.TPStatusVlanTPIDValid, 14},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			ps := e.packetSock(tc.typ, socket.EthPAll, 0)
			ps.SetsockoptInt(socket.SolPacket, socket.PacketAuxdata, 1)
			p := udpPkt(7002, []byte("auxdata"))
			p.tagged, p.vid = tc.tagged, 5
			p.badUDPCsum, p.trailer = tc.badCsum, tc.trailer
			f := p.frame()
			e.injectMod(f, func(b *skb.Buffer) { b.IPSummed = tc.summed })
			buf := make([]byte, tc.bufLen)
			m := socket.PacketMsghdr{Control: make([]byte, 64)}
			n, err := ps.RecvMsg(buf, 0, &m)
			if err != nil {
				t.Fatal(err)
			}
			untagged := f
			if tc.tagged {
				untagged = append(append([]byte(nil), f[:12]...), f[16:]...)
			}
			want := untagged
			if tc.typ == socket.SockDgram {
				want = untagged[14:]
			}
			if n != min(len(want), tc.bufLen) || !bytes.Equal(buf[:n], want[:n]) {
				t.Errorf("data %x, want %x", buf[:n], want)
			}
			if (m.Flags&socket.MsgTrunc != 0) != (tc.bufLen < len(want)) {
				t.Errorf("flags %#x", m.Flags)
			}
			a := m.Auxdata
			wa := socket.TpacketAuxdata{Status: tc.wantStatus, Len: uint32(len(want)), Snaplen: uint32(len(want)), Net: tc.wantNet}
			if tc.tagged {
				wa.VlanTCI, wa.VlanTPID = 5, 0x8100
			}
			if !m.HasAuxdata || a != wa {
				t.Errorf("auxdata %+v, want %+v", a, wa)
			}
			// The cmsg as Linux writes it: SOL_PACKET, PACKET_AUXDATA, 20 bytes.
			c := m.Control[:m.Controllen]
			if len(c) != socket.CmsgSpace(20) || binary.LittleEndian.Uint64(c) != uint64(socket.CmsgLen(20)) ||
				binary.LittleEndian.Uint32(c[8:]) != socket.SolPacket || binary.LittleEndian.Uint32(c[12:]) != socket.PacketAuxdata ||
				!bytes.Equal(c[16:36], wa.Marshal()) {
				t.Errorf("cmsg %x", c)
			}
		})
	}
}

// packet_snd: whole frames (SOCK_RAW) and frames built from sll_addr and
// sll_protocol (SOCK_DGRAM), and the errors of each path. A socket does
// not see what it sent; another ETH_P_ALL socket does.
func TestPacketSend(t *testing.T) {
	frame := rawFrame(macT, macM, ethPTest, "raw frame out")
	dst := socket.SockaddrLL{Family: socket.AFPacket, Protocol: socket.Htons(ethPTest), Ifindex: 2, Halen: 6}
	copy(dst.Addr[:], macT[:])
	noIf := dst
	noIf.Ifindex = 0
	for _, tc := range []struct {
		name   string
		typ    int
		bindIf int
		to     *socket.SockaddrLL
		data   []byte
		want   []byte // frame on the wire
		err    error
	}{
		{"raw bound", socket.SockRaw, 2, nil, frame, frame, nil},
		{"raw to ifindex", socket.SockRaw, 0, &dst, frame, frame, nil},
		{"raw unbound", socket.SockRaw, 0, nil, frame, nil, syscall.ENXIO},
		{"raw ifindex 0", socket.SockRaw, 0, &noIf, frame, nil, syscall.ENXIO},
		{"raw short", socket.SockRaw, 2, nil, frame[:13], nil, syscall.EINVAL},
		{"raw over mtu", socket.SockRaw, 2, nil, make([]byte, 1500+14+1), nil, syscall.EMSGSIZE},
		{"raw vlan over mtu", socket.SockRaw, 2, nil, vlanFrame(1500 + 18), vlanFrame(1500 + 18), nil},
		{"raw vlan too long", socket.SockRaw, 2, nil, vlanFrame(1500 + 19), nil, syscall.EMSGSIZE},
		{"dgram", socket.SockDgram, 0, &dst, []byte("raw frame out"), frame, nil},
		{"dgram bound without address", socket.SockDgram, 2, nil, []byte("x"), nil, syscall.EINVAL},
		{"dgram over mtu", socket.SockDgram, 0, &dst, make([]byte, 1501), nil, syscall.EMSGSIZE},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			watcher := e.packetSock(socket.SockRaw, socket.EthPAll, 0)
			ps := e.packetSock(tc.typ, ethPTest, tc.bindIf)
			n, err := ps.SendTo(tc.data, 0, tc.to)
			if !errors.Is(err, tc.err) || (err == nil && n != len(tc.data)) {
				t.Fatalf("sendto %d, %v; want %v", n, err, tc.err)
			}
			out := e.link.take()
			if tc.want == nil {
				if len(out) != 0 {
					t.Fatalf("sent %d frames", len(out))
				}
				return
			}
			if len(out) != 1 || !bytes.Equal(out[0], tc.want) {
				t.Fatalf("sent %x, want %x", out, tc.want)
			}
			if _, err := ps.RecvFrom(make([]byte, 2048), 0, nil); !errors.Is(err, syscall.EAGAIN) {
				t.Errorf("the sender saw its own frame: %v", err)
			}
			buf := make([]byte, 2048)
			var from socket.SockaddrLL
			n, err = watcher.RecvFrom(buf, 0, &from)
			if err != nil || !bytes.Equal(buf[:n], tc.want) || from.Pkttype != socket.PacketOutgoing {
				t.Errorf("watcher got %x %+v %v", buf[:n], from, err)
			}
		})
	}
}

func vlanFrame(n int) []byte {
	f := make([]byte, n)
	wire.PutEth(f, macT, macM, wire.EthP8021Q)
	f[14], f[15] = 0, 5
	f[16], f[17] = 0x88, 0xb5
	return f
}

// recvmsg's flags, bind's checks, the filter, and options.
func TestPacketSocketCalls(t *testing.T) {
	e := newEnv(t)
	ps := e.packetSock(socket.SockRaw, ethPTest, 0)
	if _, err := ps.RecvFrom(make([]byte, 10), 0x1 /* MSG_OOB */, nil); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("MSG_OOB: %v", err)
	}
	if _, err := ps.RecvFrom(make([]byte, 10), socket.MsgErrqueue, nil); !errors.Is(err, syscall.EAGAIN) {
		t.Errorf("MSG_ERRQUEUE: %v", err)
	}
	for _, tc := range []struct {
		sa  socket.SockaddrLL
		err error
	}{
		{socket.SockaddrLL{Family: socket.AFInet}, syscall.EINVAL},
		{socket.SockaddrLL{Family: socket.AFPacket, Ifindex: 9}, syscall.ENODEV},
		{socket.SockaddrLL{Family: socket.AFPacket, Ifindex: 2}, nil},
	} {
		if err := ps.Bind(&tc.sa); !errors.Is(err, tc.err) {
			t.Errorf("bind %+v: %v, want %v", tc.sa, err, tc.err)
		}
	}
	if sa, _ := ps.Getsockname(); sa.Ifindex != 2 || sa.Protocol != socket.Htons(ethPTest) || sa.Addr[0] != macM[0] {
		t.Errorf("getsockname %+v", sa)
	}
	for _, o := range []struct{ level, name, want int }{
		{socket.SolSocket, socket.SoType, socket.SockRaw},
		{socket.SolSocket, socket.SoDomain, socket.AFPacket},
		{socket.SolSocket, socket.SoProtocol, 0},
		{socket.SolPacket, socket.PacketAuxdata, 0},
	} {
		if v, err := ps.GetsockoptInt(o.level, o.name); err != nil || v != o.want {
			t.Errorf("getsockopt(%d, %d) = %d, %v; want %d", o.level, o.name, v, err, o.want)
		}
	}
	// A filter that keeps 16 bytes of frames with an odd last byte.
	ps.SetFilter(func(f []byte) int {
		if f[len(f)-1]&1 == 0 {
			return 0
		}
		return 16
	})
	e.inject(rawFrame(macM, macT, ethPTest, "even\x02"))
	e.inject(rawFrame(macM, macT, ethPTest, "odd frame\x01"))
	buf := make([]byte, 100)
	n, err := ps.RecvFrom(buf, socket.MsgTrunc, nil)
	if err != nil || n != 16 {
		t.Errorf("filtered recv %d, %v; want the 16 bytes kept", n, err)
	}
	if st, _ := ps.Statistics(); st.Packets != 1 || st.Drops != 0 {
		t.Errorf("a refused frame is neither a packet nor a drop: %+v", st)
	}
	if n, _ := ps.Ioctl(socket.FIONREAD); n != 0 {
		t.Errorf("FIONREAD %d", n)
	}
	ps.Close()
	if _, err := ps.RecvFrom(buf, 0, nil); !errors.Is(err, syscall.EBADF) {
		t.Errorf("after close: %v", err)
	}
	if e.s.packet.InUse() != 0 {
		t.Errorf("%d packet sockets in use", e.s.packet.InUse())
	}
}

// ListenPacket and ReadFrame, the Go way in.
func TestListenPacketReadFrame(t *testing.T) {
	e := newEnv(t)
	if _, err := e.s.Socket(socket.AFPacket, socket.SockRaw, 0); !errors.Is(err, syscall.EAFNOSUPPORT) {
		t.Errorf("Socket(AF_PACKET): %v", err)
	}
	if _, err := e.s.ListenPacket(PacketOptions{Interface: "eth9"}); !errors.Is(err, syscall.ENODEV) {
		t.Errorf("unknown interface: %v", err)
	}
	ps, err := e.s.ListenPacket(PacketOptions{Interface: "eth0", EtherType: ethPTest})
	if err != nil {
		t.Fatal(err)
	}
	defer ps.Close()
	f := rawFrame(wire.MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, macT, ethPTest, "hello frames")
	e.inject(f)
	buf := make([]byte, 20)
	n, info, err := ps.ReadFrame(buf)
	if err != nil || n != 20 || !bytes.Equal(buf, f[:20]) {
		t.Fatalf("ReadFrame %d %v", n, err)
	}
	if info.Interface != 2 || info.Type != socket.PacketBroadcast || info.EtherType != ethPTest ||
		info.Len != len(f) || info.Source.String() != "02:00:00:00:00:09" || !info.Time.Equal(time.Unix(0, e.clk.Now())) {
		t.Errorf("info %+v", info)
	}
	ps.SetNonblock(true)
	if _, _, err := ps.ReadFrame(buf); !errors.Is(err, syscall.EAGAIN) {
		t.Errorf("empty nonblocking read: %v", err)
	}
}

// Binding, reading and closing while frames arrive and leave: no race,
// no buffer lost (the cleanup checks every pool).
func TestPacketConcurrentRebind(t *testing.T) {
	e := newEnv(t)
	ps := e.packetSock(socket.SockRaw, ethPTest, 0)
	tx := e.packetSock(socket.SockRaw, ethPTest, 2)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(3)
	go func() {
		defer wg.Done()
		for i := 0; i < 300; i++ {
			e.inject(rawFrame(macM, macT, ethPTest, "in"))
		}
	}()
	go func() {
		defer wg.Done()
		f := rawFrame(macT, macM, ethPTest, "out")
		for i := 0; i < 300; i++ {
			tx.SendTo(f, 0, nil)
		}
	}()
	go func() {
		defer wg.Done()
		protos := []uint16{socket.EthPAll, ethPTest, wire.EthPIP}
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			default:
			}
			ps.Bind(&socket.SockaddrLL{Family: socket.AFPacket, Protocol: socket.Htons(protos[i%3]), Ifindex: int32(i % 3)})
			ps.RecvFrom(make([]byte, 64), 0, nil)
		}
	}()
	time.Sleep(50 * time.Millisecond)
	close(done)
	wg.Wait()
	e.link.take()
	ps.Close()
	if n := packetSockOf(ps).RmemAlloc(); n != 0 {
		t.Errorf("rmem %d after close", n)
	}
}
