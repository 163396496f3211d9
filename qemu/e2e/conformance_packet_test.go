package e2e

// Conformance cases of AF_PACKET sockets (net/packet/af_packet.c): the
// sockaddr_ll and tpacket_auxdata of received frames, frames sent whole
// (SOCK_RAW) and from sll_addr (SOCK_DGRAM) and how an ETH_P_ALL socket
// sees them (PACKET_OUTGOING), the errors of packet_snd, and the
// receive-buffer drops PACKET_STATISTICS reports. They use the local
// experimental EtherType 0x88b5, which no stack handles, so nothing
// answers the frames; the guest's interface is ifindex 2 on both targets.

import (
	"bytes"
	"fmt"
	"net"
	"syscall"
	"time"

	"github.com/kaidoku-net/kaidoku/image/agent"
	"github.com/kaidoku-net/kaidoku/netstack/socket"
	"github.com/kaidoku-net/kaidoku/qemu/testbench"
)

func init() { conformanceCases = append(conformanceCases, packetCases...) }

const (
	ethPExp   = 0x88b5 // IEEE 802 local experimental EtherType 1
	ethPAll   = 0x0003
	ethIf     = 2 // the guest's Ethernet interface
	arphrdEth = 1
)

func macString(m testbench.MAC) string { return net.HardwareAddr(m[:]).String() }

// packetSocket opens an AF_PACKET socket of typ for proto (host order),
// closed when the case ends.
func (c *cc) packetSocket(typ int, proto uint16) int {
	c.t.Helper()
	r := c.ok(agent.Request{Op: agent.OpPacketSocket, Value: typ, Name: int(proto)})
	c.fds = append(c.fds, r.FD)
	return r.FD
}

// packetBind binds fd to the guest's interface and proto (0: keep).
func (c *cc) packetBind(fd int, proto uint16) {
	c.t.Helper()
	c.ok(agent.Request{Op: agent.OpPacketBind, FD: fd, LL: &agent.SockaddrLL{Family: socket.AFPacket, Protocol: proto, Ifindex: ethIf}})
}

// packetRecv reads the next frame that match accepts, without blocking
// the agent, giving up after 30 s; frames match refuses are skipped (an
// IPv4 or ETH_P_ALL socket also holds the agent's own requests).
func (c *cc) packetRecv(fd, n int, match func(*agent.Response) bool) *agent.Response {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := c.call(agent.Request{Op: agent.OpPacketRecv, FD: fd, Len: n, Flags: socket.MsgDontwait})
		if r.Errno == 0 && (match == nil || match(r)) {
			return r
		}
		if r.Errno != 0 && syscall.Errno(r.Errno) != syscall.EAGAIN {
			c.t.Fatalf("packet recvmsg: %s", r.Err)
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("no matching frame on packet socket %d within 30 s", fd)
		}
		if r.Errno != 0 {
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func (c *cc) wantPacket(r *agent.Response, frame []byte, ll agent.SockaddrLL, aux *agent.Auxdata) {
	c.t.Helper()
	if r.Ret != len(frame) || !bytes.Equal(r.Data, frame) {
		c.t.Errorf("frame %d bytes %x, want %d bytes %x", r.Ret, r.Data, len(frame), frame)
	}
	if r.LL == nil || *r.LL != ll || r.Namelen != socket.SizeofSockaddrLL {
		c.t.Errorf("sockaddr_ll %+v (namelen %d), want %+v (namelen 20)", r.LL, r.Namelen, ll)
	}
	if aux != nil && (r.Auxdata == nil || *r.Auxdata != *aux) {
		c.t.Errorf("tpacket_auxdata %+v, want %+v", r.Auxdata, aux)
	}
}

func expPayload(what string) []byte {
	return []byte(fmt.Sprintf("%-46s", "af_packet conformance: "+what))
}

var packetCases = []confCase{
	// packet_rcv: an EtherType socket (ptype_base) bound to the
	// interface gets each frame whole from its Ethernet header, with
	// the sockaddr_ll of eth_type_trans's pkt_type and the source
	// address (dev_parse_header), and with PACKET_AUXDATA the lengths,
	// the network offset and TP_STATUS_USER (QEMU's device validates no
	// checksum). PACKET_OTHERHOST is in the host tests: Linux's
	// virtio-net turns QEMU's promiscuous default off, kaidoku's driver
	// does not, so the device passes different frames.
	{name: "P01-packet-rcv-sockaddr-ll", run: func(c *cc) {
		fd := c.packetSocket(syscall.SOCK_RAW, ethPExp)
		c.packetBind(fd, 0)
		c.ok(agent.Request{Op: agent.OpSetInt, FD: fd, Level: socket.SolPacket, Name: socket.PacketAuxdata, Value: 1})
		// packet_create leaves sk_protocol 0: SO_PROTOCOL is not the
		// protocol the socket was opened with.
		if v := c.ok(agent.Request{Op: agent.OpGetInt, FD: fd, Level: socket.SolSocket, Name: socket.SoProtocol}).Value; v != 0 {
			c.t.Errorf("SO_PROTOCOL %#x, want 0", v)
		}
		allHosts := testbench.MAC{0x01, 0x00, 0x5e, 0x00, 0x00, 0x01}
		for _, tc := range []struct {
			dst     testbench.MAC
			pkttype int
		}{
			{c.b.GuestMAC, int(socket.PacketHost)},
			{testbench.Broadcast, int(socket.PacketBroadcast)},
			{allHosts, int(socket.PacketMulticast)},
		} {
			frame := testbench.Ether(tc.dst, c.b.MAC, ethPExp, -1, expPayload(fmt.Sprintf("pkttype %d", tc.pkttype)))
			c.b.Inject(frame)
			r := c.packetRecv(fd, 200, nil)
			c.wantPacket(r, frame,
				agent.SockaddrLL{Family: socket.AFPacket, Protocol: ethPExp, Ifindex: ethIf, Hatype: arphrdEth,
					Pkttype: tc.pkttype, Halen: 6, Addr: macString(c.b.MAC)},
				&agent.Auxdata{Status: socket.TPStatusUser, Len: uint32(len(frame)), Snaplen: uint32(len(frame)), Net: 14})
		}
		// A buffer shorter than the frame: MSG_TRUNC, the bytes copied, or
		// the whole length with MSG_TRUNC in the flags; auxdata keeps the
		// frame's own lengths.
		frame := testbench.Ether(c.b.GuestMAC, c.b.MAC, ethPExp, -1, expPayload("truncated"))
		c.b.Inject(frame)
		time.Sleep(100 * time.Millisecond)
		r := c.call(agent.Request{Op: agent.OpPacketRecv, FD: fd, Len: 20, Flags: socket.MsgDontwait | socket.MsgTrunc})
		if r.Errno != 0 || r.Ret != len(frame) || !bytes.Equal(r.Data, frame[:20]) || r.MsgFlags&socket.MsgTrunc == 0 ||
			r.Auxdata == nil || r.Auxdata.Len != uint32(len(frame)) || r.Auxdata.Snaplen != uint32(len(frame)) {
			c.t.Errorf("truncated read: ret %d errno %d flags %#x data %x aux %+v", r.Ret, r.Errno, r.MsgFlags, r.Data, r.Auxdata)
		}
		// recvmsg takes no MSG_OOB; an empty error queue is EAGAIN.
		c.wantErrno(c.call(agent.Request{Op: agent.OpPacketRecv, FD: fd, Len: 20, Flags: 0x1 | socket.MsgDontwait}), syscall.EINVAL)
		c.wantErrno(c.call(agent.Request{Op: agent.OpPacketRecv, FD: fd, Len: 20, Flags: socket.MsgErrqueue}), syscall.EAGAIN)
	}},

	// packet_snd: SOCK_DGRAM builds the Ethernet header from sll_addr
	// and sll_protocol, SOCK_RAW sends the frame as given; an ETH_P_ALL
	// socket sees each as PACKET_OUTGOING (dev_queue_xmit_nit), from the
	// Ethernet header, with the guest's own address; the sender does not
	// see its own frame. The errors: no device (ENXIO), no destination
	// for SOCK_DGRAM (EINVAL), a raw frame shorter than its header
	// (EINVAL) or longer than the MTU allows (EMSGSIZE).
	{name: "P02-packet-snd-outgoing", run: func(c *cc) {
		watch := c.packetSocket(syscall.SOCK_RAW, ethPAll)
		c.packetBind(watch, 0)
		c.ok(agent.Request{Op: agent.OpSetInt, FD: watch, Level: socket.SolPacket, Name: socket.PacketAuxdata, Value: 1})
		dg := c.packetSocket(syscall.SOCK_DGRAM, ethPExp)
		to := &agent.SockaddrLL{Family: socket.AFPacket, Protocol: ethPExp, Ifindex: ethIf, Halen: 6, Addr: macString(c.b.MAC)}
		isExp := func(p testbench.Parsed) bool { return p.EtherType == ethPExp && p.Src == c.b.GuestMAC }
		outgoing := func(r *agent.Response) bool {
			return r.LL != nil && r.LL.Pkttype == int(socket.PacketOutgoing) && r.LL.Protocol == ethPExp
		}
		payload := expPayload("cooked")
		want := testbench.Ether(c.b.MAC, c.b.GuestMAC, ethPExp, -1, payload)
		if r := c.ok(agent.Request{Op: agent.OpPacketSend, FD: dg, Data: payload, LL: to}); r.Ret != len(payload) {
			c.t.Errorf("sendto returned %d, want %d", r.Ret, len(payload))
		}
		p, err := c.b.Next(isExp, 5*time.Second)
		if err != nil || !bytes.Equal(p.Raw, want) {
			c.t.Fatalf("on the wire: %x, %v; want %x", p.Raw, err, want)
		}
		outLL := agent.SockaddrLL{Family: socket.AFPacket, Protocol: ethPExp, Ifindex: ethIf, Hatype: arphrdEth,
			Pkttype: int(socket.PacketOutgoing), Halen: 6, Addr: macString(c.b.GuestMAC)}
		c.wantPacket(c.packetRecv(watch, 200, outgoing), want, outLL,
			&agent.Auxdata{Status: socket.TPStatusUser, Len: uint32(len(want)), Snaplen: uint32(len(want)), Net: 14})
		c.wantErrno(c.call(agent.Request{Op: agent.OpPacketRecv, FD: dg, Len: 200, Flags: socket.MsgDontwait}), syscall.EAGAIN)

		raw := c.packetSocket(syscall.SOCK_RAW, 0)
		c.packetBind(raw, ethPExp)
		frame := testbench.Ether(c.b.MAC, c.b.GuestMAC, ethPExp, -1, expPayload("raw"))
		if r := c.ok(agent.Request{Op: agent.OpPacketSend, FD: raw, Data: frame}); r.Ret != len(frame) {
			c.t.Errorf("raw sendto returned %d, want %d", r.Ret, len(frame))
		}
		p, err = c.b.Next(isExp, 5*time.Second)
		if err != nil || !bytes.Equal(p.Raw, frame) {
			c.t.Fatalf("raw frame on the wire: %x, %v; want %x", p.Raw, err, frame)
		}
		c.wantPacket(c.packetRecv(watch, 200, outgoing), frame, outLL, nil)

		c.wantErrno(c.call(agent.Request{Op: agent.OpPacketSend, FD: dg, Data: payload}), syscall.ENXIO)
		noIf := *to
		noIf.Ifindex = 0
		c.wantErrno(c.call(agent.Request{Op: agent.OpPacketSend, FD: raw, Data: frame, LL: &noIf}), syscall.ENXIO)
		c.packetBind(dg, 0)
		c.wantErrno(c.call(agent.Request{Op: agent.OpPacketSend, FD: dg, Data: payload}), syscall.EINVAL)
		c.wantErrno(c.call(agent.Request{Op: agent.OpPacketSend, FD: raw, Data: frame[:13]}), syscall.EINVAL)
		c.wantErrno(c.call(agent.Request{Op: agent.OpPacketSend, FD: raw, Data: make([]byte, 1500+14+5)}), syscall.EMSGSIZE)
		c.wantErrno(c.call(agent.Request{Op: agent.OpPacketSend, FD: dg, Data: make([]byte, 1501), LL: to}), syscall.EMSGSIZE)
		if n := c.b.Count(isExp, 200*time.Millisecond); n != 0 {
			c.t.Errorf("%d frames sent by the failed calls", n)
		}
	}},

	// Receive-buffer accounting: packet_rcv refuses a frame once
	// sk_rmem_alloc has reached sk_rcvbuf (SO_RCVBUF 1: SOCK_MIN_RCVBUF,
	// 2304; a small frame is charged 1280 on virtio-net, so two fit),
	// counting tp_drops; PACKET_STATISTICS reports every frame in
	// tp_packets, drops included, and starts again from zero.
	{name: "P03-packet-statistics", run: func(c *cc) {
		fd := c.packetSocket(syscall.SOCK_RAW, ethPExp)
		c.packetBind(fd, 0)
		c.ok(agent.Request{Op: agent.OpSetInt, FD: fd, Level: socket.SolSocket, Name: socket.SoRcvbuf, Value: 1})
		if v := c.ok(agent.Request{Op: agent.OpGetInt, FD: fd, Level: socket.SolSocket, Name: socket.SoRcvbuf}).Value; v != 2304 {
			c.t.Errorf("SO_RCVBUF %d, want 2304", v)
		}
		st := c.ok(agent.Request{Op: agent.OpPacketStats, FD: fd}).PacketStats
		if st == nil || *st != (agent.PacketStats{}) {
			c.t.Errorf("statistics before any frame: %+v", st)
		}
		const sent = 5
		for i := 0; i < sent; i++ {
			c.b.Inject(testbench.Ether(c.b.GuestMAC, c.b.MAC, ethPExp, -1, expPayload(fmt.Sprint("burst ", i))))
		}
		time.Sleep(300 * time.Millisecond)
		st = c.ok(agent.Request{Op: agent.OpPacketStats, FD: fd}).PacketStats
		if st == nil || *st != (agent.PacketStats{Packets: sent, Drops: sent - 2}) {
			c.t.Errorf("statistics %+v, want packets %d drops %d", st, sent, sent-2)
		}
		st = c.ok(agent.Request{Op: agent.OpPacketStats, FD: fd}).PacketStats
		if st == nil || *st != (agent.PacketStats{}) {
			c.t.Errorf("statistics read again %+v, want zero", st)
		}
		for i := 0; i < 2; i++ {
			r := c.packetRecv(fd, 200, nil)
			if !bytes.Contains(r.Data, []byte(fmt.Sprint("burst ", i))) {
				c.t.Errorf("frame %d: %q", i, r.Data)
			}
		}
		c.wantErrno(c.call(agent.Request{Op: agent.OpPacketRecv, FD: fd, Len: 200, Flags: socket.MsgDontwait}), syscall.EAGAIN)
	}},
}

func init() { conformanceCases = append(conformanceCases, packetCookedCase, packetTypeCase) }

// socket(AF_PACKET, type, ...) with a type no packet socket has: flags
// other than SOCK_NONBLOCK and SOCK_CLOEXEC, and types beyond
// SOCK_PACKET, are EINVAL before the family is asked
// (__sys_socket_create, __sock_create); a type in range that
// packet_create does not take is ESOCKTNOSUPPORT.
var packetTypeCase = confCase{name: "P06-packet-socket-type", run: func(c *cc) {
	for _, tc := range []struct {
		typ  int
		want syscall.Errno
	}{
		{11, syscall.EINVAL},
		{15, syscall.EINVAL},
		{syscall.SOCK_RAW | 0x100, syscall.EINVAL},
		{syscall.SOCK_STREAM, syscall.ESOCKTNOSUPPORT},
		{syscall.SOCK_SEQPACKET, syscall.ESOCKTNOSUPPORT},
	} {
		r := c.call(agent.Request{Op: agent.OpPacketSocket, Value: tc.typ, Name: int(ethPAll)})
		if r.Errno == 0 {
			c.fds = append(c.fds, r.FD)
		}
		if syscall.Errno(r.Errno) != tc.want {
			c.t.Errorf("socket(AF_PACKET, %#x): errno %d (%s), want %v", tc.typ, r.Errno, r.Err, tc.want)
		}
	}
}}

// SOCK_DGRAM sockets get frames from the network header (tp_net 0). An
// ETH_P_IP socket is a ptype_base entry: it sees the datagram that
// arrives, not the ICMP error that leaves (dev_queue_xmit_nit walks
// ptype_all alone); an ETH_P_ALL socket sees both, the error as
// PACKET_OUTGOING from its IP header.
var packetCookedCase = confCase{name: "P04-packet-cooked-ip", run: func(c *cc) {
	ipOnly := c.packetSocket(syscall.SOCK_DGRAM, 0x0800)
	c.packetBind(ipOnly, 0)
	all := c.packetSocket(syscall.SOCK_DGRAM, ethPAll)
	c.packetBind(all, 0)
	for _, fd := range []int{ipOnly, all} {
		c.ok(agent.Request{Op: agent.OpSetInt, FD: fd, Level: socket.SolPacket, Name: socket.PacketAuxdata, Value: 1})
	}
	src := fresh(44)
	payload := "to a closed port, seen cooked"
	pkt := testbench.UDP{Src: addr(src, 4444), Dst: addr(guestIP, 6944), Payload: []byte(payload)}.Packet()
	c.b.InjectIP(pkt)
	c.wantICMP(3, 3, src)
	ip := pkt.Bytes()
	inbound := func(r *agent.Response) bool { return bytes.Equal(r.Data, ip) }
	in := agent.SockaddrLL{Family: socket.AFPacket, Protocol: 0x0800, Ifindex: ethIf, Hatype: arphrdEth,
		Pkttype: int(socket.PacketHost), Halen: 6, Addr: macString(c.b.MAC)}
	// GRO found the checksum good (P05).
	inAux := &agent.Auxdata{Status: socket.TPStatusUser | socket.TPStatusCsumValid, Len: uint32(len(ip)), Snaplen: uint32(len(ip))}
	recvIn := func(fd int) { c.wantPacket(c.packetRecv(fd, 2048, inbound), ip, in, inAux) }
	recvIn(ipOnly)
	// A marker sent after the error left: the ETH_P_IP socket's frames
	// up to it (the agent's requests among them) hold no outgoing one.
	marker := testbench.UDP{Src: addr(src, 4445), Dst: addr(guestIP, 6945), Payload: []byte("marker")}.Packet()
	c.b.InjectIP(marker)
	mb := marker.Bytes()
	c.packetRecv(ipOnly, 2048, func(r *agent.Response) bool {
		if r.LL.Pkttype == int(socket.PacketOutgoing) {
			c.t.Errorf("the ETH_P_IP socket saw an outgoing frame: %x", r.Data)
		}
		return bytes.HasPrefix(r.Data, mb) // with the frame's padding
	})
	// ETH_P_ALL sees the datagram arrive, then the error leave.
	recvIn(all)
	icmpOut := func(r *agent.Response) bool {
		return r.LL != nil && r.LL.Pkttype == int(socket.PacketOutgoing) && len(r.Data) > 28 &&
			r.Data[9] == 1 && bytes.Contains(r.Data, []byte(payload))
	}
	r := c.packetRecv(all, 2048, icmpOut)
	out := agent.SockaddrLL{Family: socket.AFPacket, Protocol: 0x0800, Ifindex: ethIf, Hatype: arphrdEth,
		Pkttype: int(socket.PacketOutgoing), Halen: 6, Addr: macString(c.b.GuestMAC)}
	if *r.LL != out || r.Auxdata == nil || r.Auxdata.Net != 0 || r.Auxdata.Status != socket.TPStatusUser {
		c.t.Errorf("outgoing ICMP: sockaddr_ll %+v auxdata %+v, want %+v and tp_net 0", r.LL, r.Auxdata, out)
	}
}}

func init() { conformanceCases = append(conformanceCases, packetCsumCase) }

// Linux's GRO checks a UDP checksum before any tap sees the frame
// (dev_gro_receive → udp4_gro_receive → skb_gro_checksum_validate), so
// a packet socket reports a good IPv4/UDP datagram with
// TP_STATUS_CSUM_VALID even where the device validated nothing; a frame
// GRO does not know (0x88b5) has no such bit.
var packetCsumCase = confCase{
	name:       "P05-packet-auxdata-csum-valid",
	divergence: "GRO's UDP checksum check before the taps (found by this oracle)",
	run: func(c *cc) {
		fd := c.packetSocket(syscall.SOCK_DGRAM, 0x0800)
		c.packetBind(fd, 0)
		c.ok(agent.Request{Op: agent.OpSetInt, FD: fd, Level: socket.SolPacket, Name: socket.PacketAuxdata, Value: 1})
		pkt := testbench.UDP{Src: addr(fresh(45), 4446), Dst: addr(guestIP, 6946), Payload: []byte("checksum checked by GRO")}.Packet()
		c.b.InjectIP(pkt)
		ip := pkt.Bytes()
		r := c.packetRecv(fd, 2048, func(r *agent.Response) bool { return bytes.Equal(r.Data, ip) })
		if r.Auxdata == nil || r.Auxdata.Status != socket.TPStatusUser|socket.TPStatusCsumValid {
			c.t.Errorf("tp_status %+v, want TP_STATUS_USER|TP_STATUS_CSUM_VALID", r.Auxdata)
		}
	},
}
