// Package netstack is kaidoku's network stack: a Linux v6.8-faithful
// IPv4/UDP receive path with the transmit side services need, for one
// virtio-net interface and the loopback device in a TamaGo unikernel.
// This package wires the layers together; each sub-package mirrors one
// part of Linux:
//
//	skb      struct sk_buff: pooled packet buffers, queues
//	wire     header formats, checksums
//	ether    net_device (lo and the NIC), eth_type_trans, netif_rx and the
//	         backlog, __netif_receive_skb_core, loopback_xmit, taps, pcap
//	arp      arp_rcv, the neighbour table and its pending queue
//	ipv4     ip_rcv … ip_local_deliver, routing, options, reassembly, ICMP, output
//	udp      udp_table, lookup, reuseport, queues, recvmsg, bind/connect, sendmsg
//	packet   af_packet: packet sockets on the ptype_all and ptype_base taps
//	socket   the socket API, net.PacketConn, net.SocketFunc
//	mib      counters, drop reasons, /proc formats
//	latency  T0…T3 histograms
//	clock    jiffies and timers
//
// # Wiring
//
// The image creates the pools and the stack, then lets the driver feed
// it:
//
//	frames, _ := skb.NewPool("frames", 2048, 1024, dmaMemory)
//	large, _ := skb.NewPool("reasm", 65536+64, 8, skb.HeapMemory)
//	st, _ := netstack.New(netstack.Config{
//		Link: dev, FramePool: frames, LargePool: large,
//		Addr: [4]byte{10, 0, 0, 5}, PrefixLen: 24,
//		Now: board.Nanotime,
//	})
//	st.Up()                            // gratuitous ARP
//	netstack.InstallSocketFunc(st)     // GOOS=tamago: net.ListenUDP works
//	// in the NAPI poll goroutine, per frame:
//	st.Receive(b)                      // b.Data() = Ethernet frame; st owns b
//
// Receive is netif_receive_skb: the driver passes a buffer whose data is
// the Ethernet frame, with IPSummed (ChecksumUnnecessary when the device
// set VIRTIO_NET_HDR_F_DATA_VALID) and Trace.T0/T1 set (Ifindex becomes
// Config.Ifindex, as eth_type_trans sets skb->dev);
// the stack owns it from then on and frees it exactly once. Transmit goes
// through the Link the stack was given (Link.Transmit takes ownership,
// from any goroutine, and frees on error); frames are taken from the
// frame pool with Link.Headroom bytes of headroom.
//
// # Loopback
//
// lo (ifindex 1, 127.0.0.1/8, MTU 65536) carries what the host sends to
// itself: to 127/8 and, as Linux's local routes send it, to the NIC's own
// address. Broadcasts and multicasts to a group joined on the NIC are
// also looped back (IP_MULTICAST_LOOP). Looped packets go through
// netif_rx onto the backlog, never straight into the receive path: a
// sending goroutine processes the backlog under the BH lock once it has
// released its socket's lock (local_bh_enable → do_softirq), and Receive
// processes what the receive path itself looped back (an ICMP error for a
// datagram to a closed local port) before it returns.
//
// # Truesize
//
// A received frame is charged the truesize the driver set: the virtio
// driver charges what Linux's virtio_net would for the same frame (1280
// up to 128 bytes, 1792 up to 1204, 2816 beyond, with 1536-byte mergeable
// buffers; see package virtio). A buffer nobody set it for (a transmit
// frame, or a frame from a test's pool) is charged its storage plus
// skb.Overhead (576, SKB_TRUESIZE's overhead on x86_64), 2624 for a
// 2048-byte frame. A reassembled datagram is copied into one buffer (a
// frame if it fits, else the smallest that holds it from LargePool) and
// charged the sum of its fragments' truesize, as Linux charges the
// coalesced skb. Broadcast and multicast copies carry the original's
// truesize, as skb_clone does. When the pools share an skb.Arena, udp_mem
// is computed from the arena's size, the memory the buffers come from.
//
// # Time
//
// Now is a monotonic nanosecond clock. Where Linux counts jiffies,
// kaidoku behaves as a HZ=1000 kernel (jiffies are milliseconds): the
// 30 s reassembly timer, the ICMP limiters (HZ/50 = 20 ms refill,
// icmp_ratelimit 1000) and SO_RCVTIMEO rounding. Timers run from one
// runtime timer armed for the earliest deadline (the CPU halts in
// between); with ManualTimers a test drives them with RunTimers after
// advancing a fake clock.
//
// # Concurrency
//
// Receive runs on the NAPI goroutine; socket calls run on application
// goroutines; timers run on the runtime timer's goroutine. The BH lock
// (softirq context) serialises the receive path, timers that touch
// receive state and socket-table changes; socket queues have their own
// locks (sk_receive_queue, reader_queue) and a blocked receive parks on
// the socket's wait queue until sk_data_ready wakes exactly one reader.
package netstack

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"syscall"

	"sync"

	"github.com/kaidoku-net/kaidoku/netstack/internal/arp"
	"github.com/kaidoku-net/kaidoku/netstack/internal/clock"
	"github.com/kaidoku-net/kaidoku/netstack/internal/ether"
	"github.com/kaidoku-net/kaidoku/netstack/internal/ipv4"
	"github.com/kaidoku-net/kaidoku/netstack/internal/mib"
	"github.com/kaidoku-net/kaidoku/netstack/internal/packet"
	"github.com/kaidoku-net/kaidoku/netstack/internal/sockets"
	"github.com/kaidoku-net/kaidoku/netstack/internal/tcp"
	"github.com/kaidoku-net/kaidoku/netstack/internal/udp"
	"github.com/kaidoku-net/kaidoku/netstack/internal/udplite"
	"github.com/kaidoku-net/kaidoku/netstack/internal/wire"
	"github.com/kaidoku-net/kaidoku/netstack/latency"
	"github.com/kaidoku-net/kaidoku/netstack/skb"
	"github.com/kaidoku-net/kaidoku/netstack/socket"
)

// Link is the driver interface the stack transmits through (see
// ether.Link).
type Link = ether.Link

// Config configures a Stack.
type Config struct {
	// Link is the device; its MAC, MTU and headroom are read once.
	Link Link
	// Ifindex and Name identify the interface (defaults 2, "eth0"): the
	// routes, SO_BINDTODEVICE, IP_MULTICAST_IF, IP_PKTINFO and the device
	// statistics use them; lo has index 1 and name "lo".
	Ifindex int
	Name    string
	// Addr/PrefixLen is the interface address; Gateway, if non-zero,
	// the default route.
	Addr      [4]byte
	PrefixLen int
	Gateway   [4]byte
	// FramePool supplies transmit frames and copies (2048-byte DMA
	// buffers in the image). Required. When it draws on an skb.Arena,
	// the arena is the memory udp_mem is computed from.
	FramePool *skb.Pool
	// LargePool holds reassembled datagrams larger than a frame (on an
	// arena, each in the smallest block that fits). Without it such
	// datagrams fail reassembly (ReasmFails).
	LargePool *skb.Pool
	// Now is the monotonic clock in ns (nil: time since New).
	Now func() int64
	// Realtime is ktime_get_real, CLOCK_REALTIME in ns since the Unix
	// epoch: the clock receive timestamps (SO_TIMESTAMP, SO_TIMESTAMPNS,
	// SO_TIMESTAMPING) are read from. nil: Now when Now is given — in
	// the image board.Nanotime, which board init advances to the wall
	// time read from the RTC, so one clock is both monotonic and
	// real-time — else time.Now.
	Realtime func() int64
	// Rand is the random source (nil: math/rand/v2).
	Rand func() uint32
	// ManualTimers disables the runtime timer: call RunTimers.
	ManualTimers bool
	// The stack's tests also set the net.ipv4 sysctls (nil: Linux's
	// defaults) and the UDP layer's sizes; udpConfig.BufferBytes
	// defaults to the size of FramePool's arena, if it has one.
	sysctl    *ipv4.Sysctl
	udpConfig udp.Config
	// ArpQueueLenBytes overrides unres_qlen_bytes when > 0.
	ArpQueueLenBytes int
	// NoLatencyTrace turns the receive-path latency trace off in the
	// stack: UDP takes no T2 at enqueue and no T3 in recvmsg, records
	// nothing, and Latency returns nil. The trace costs two clock reads
	// and four histogram updates per datagram read; set this to measure
	// that cost (the same load with the trace on and off), or to run
	// without it. The driver's T0/T1 stamps are its own option
	// (virtio.NetConfig.NoTrace).
	NoLatencyTrace bool
}

// Stack is one network namespace with the loopback device and one
// Ethernet interface.
type Stack struct {
	bh    sync.Mutex
	clock *clock.Clock
	mib   *mib.MIB
	net   *ether.Net // the device table: lo, then Dev
	dev   *ether.Device
	neigh *arp.Table
	ip    *ipv4.IPv4
	udp   *udp.UDP
	// packet is af_packet's table (packet sockets).
	packet *packet.Table
	cfg    Config
}

// New builds the stack.
func New(cfg Config) (*Stack, error) {
	if cfg.Link == nil || cfg.FramePool == nil {
		return nil, fmt.Errorf("netstack: Link and FramePool are required")
	}
	if cfg.Ifindex == 0 {
		cfg.Ifindex = ether.EthIfindex
	}
	if cfg.Name == "" {
		cfg.Name = "eth0"
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Uint32
	}
	if cfg.NoLatencyTrace {
		cfg.udpConfig.NoLatencyTrace = true
	}
	if a := cfg.FramePool.Arena(); a != nil && cfg.udpConfig.BufferBytes == 0 {
		cfg.udpConfig.BufferBytes = int64(a.Size())
	}
	s := &Stack{cfg: cfg, mib: new(mib.MIB)}
	s.clock = clock.New(cfg.Now, cfg.ManualTimers)
	s.net = ether.NewNet(s.mib, &s.bh)
	switch {
	case cfg.Realtime != nil:
		s.net.SetRealtime(cfg.Realtime)
	case cfg.Now != nil:
		s.net.SetRealtime(cfg.Now)
	}
	var err error
	if s.dev, err = s.net.NewDevice(cfg.Link, cfg.Ifindex, cfg.Name); err != nil {
		return nil, fmt.Errorf("netstack: %w", err)
	}
	sys := ipv4.NewSysctl()
	if cfg.sysctl != nil {
		sys = *cfg.sysctl
	}
	addr := wire.AddrFrom4(cfg.Addr)
	var ip *ipv4.IPv4
	s.neigh = arp.New(arp.Config{
		Dev: s.dev, MIB: s.mib, Clock: s.clock, Pool: cfg.FramePool, Rand: cfg.Rand,
		Addr:          func() wire.Addr { return addr },
		IsLocal:       func(a wire.Addr) bool { return ip.InetAddrType(a) == ipv4.RtnLocal },
		RouteLocal:    func(tip, sip wire.Addr) bool { return ip.RouteInputLocal(tip, sip) },
		QueueLenBytes: cfg.ArpQueueLenBytes,
	})
	ip = ipv4.New(ipv4.Config{
		Net: s.net, Dev: s.dev, MIB: s.mib, Clock: s.clock, Neigh: s.neigh, FramePool: cfg.FramePool,
		LargePool: cfg.LargePool, BH: &s.bh, Rand: cfg.Rand,
		Addr: addr, PrefixLen: cfg.PrefixLen, Gateway: wire.AddrFrom4(cfg.Gateway), Sysctl: sys,
	})
	s.ip = ip
	s.dev.AddPack(wire.EthPARP, s.neigh.Rcv)
	s.udp = udp.New(ip, &s.bh, cfg.udpConfig)
	// TCP and UDP-Lite are registered protocols in Linux: their
	// datagrams are counted and answered as with no sockets open.
	tcp.New(ip, s.mib)
	udplite.New(ip, s.mib)
	s.packet = packet.New(packet.Config{Net: s.net, MIB: s.mib, Pool: cfg.FramePool, LargePool: cfg.LargePool, Now: s.net.Realtime})
	return s, nil
}

// Receive is netif_receive_skb for the driver: b.Data() is an Ethernet
// frame. The stack owns b from now on. What handling it looped back is
// processed before Receive returns, as net_rx_action polls the backlog.
func (s *Stack) Receive(b *skb.Buffer) {
	s.bh.Lock()
	s.dev.Receive(b)
	s.net.NetRxAction()
	s.bh.Unlock()
}

// lo returns the loopback device.
func (s *Stack) lo() *ether.Device { return s.net.Loopback() }

// writeRoutes prints the routing tables as `ip route show table all`
// shows the main and local tables.
func (s *Stack) writeRoutes(w io.Writer) error { return s.ip.WriteRoutes(w) }

// Up announces the interface address with a gratuitous ARP, as Linux
// does when an address is configured on an up interface.
func (s *Stack) Up() { s.neigh.Announce(s.ip.Addr()) }

// InterfaceName is the Ethernet interface's name (Config.Name), the one
// SO_BINDTODEVICE and packet sockets know it by.
func (s *Stack) InterfaceName() string { return s.dev.Name }

// RunTimers runs the timers that are due (for ManualTimers).
func (s *Stack) RunTimers() int { return s.clock.Run() }

// Socket is socket(2) for programs in the image: only AF_INET datagram
// sockets (SOCK_DGRAM, protocol 0 or IPPROTO_UDP) exist here (AF_PACKET
// sockets are PacketSocket's); SOCK_NONBLOCK in typ sets O_NONBLOCK. Errors are syscall.Errno values (EAFNOSUPPORT,
// ESOCKTNOSUPPORT, EPROTONOSUPPORT), or socket.ErrTCPNotSupported for
// SOCK_STREAM.
func (s *Stack) Socket(domain, typ, proto int) (*socket.Socket, error) {
	if domain == socket.AFPacket {
		return nil, fmt.Errorf("netstack: AF_PACKET sockets come from Stack.PacketSocket: %w", syscall.EAFNOSUPPORT)
	}
	sk, err := sockets.New(s.udp, domain, typ, proto, 0)
	if err != nil {
		return nil, err
	}
	return sk.(*socket.Socket), nil
}

// SocketFunc has the signature of TamaGo's net.SocketFunc hook: UDP
// sockets bound to laddr and connected to raddr when given; TCP and
// other types fail with a clear error.
func (s *Stack) SocketFunc(ctx context.Context, network string, family, sotype int, laddr, raddr net.Addr) (interface{}, error) {
	if sotype != syscall.SOCK_DGRAM {
		if sotype == syscall.SOCK_STREAM {
			return nil, socket.ErrTCPNotSupported
		}
		return nil, syscall.EPROTONOSUPPORT
	}
	if family != syscall.AF_INET && family != syscall.AF_INET6 {
		return nil, syscall.EAFNOSUPPORT
	}
	sk, err := s.Socket(socket.AFInet, socket.SockDgram, 0)
	if err != nil {
		return nil, err
	}
	if laddr != nil {
		sa, err := socket.SockaddrOf(laddr)
		if err == nil {
			err = sk.Bind(sa)
		}
		if err != nil {
			sk.Close()
			return nil, err
		}
	}
	if raddr != nil {
		sa, err := socket.SockaddrOf(raddr)
		if err == nil {
			err = sk.Connect(sa)
		}
		if err != nil {
			sk.Close()
			return nil, err
		}
	}
	return sk, nil
}

// AddPcap records every frame received and transmitted to w in libpcap
// format; the returned function stops recording.
func (s *Stack) AddPcap(w io.Writer) (stop func(), err error) {
	p, err := ether.NewPcapWriter(w, s.clock.Now, 0)
	if err != nil {
		return nil, err
	}
	return s.dev.AddTap(p.Tap), nil
}

// WriteSNMP prints /proc/net/snmp.
func (s *Stack) WriteSNMP(w io.Writer) error { return s.mib.WriteSNMP(w) }

// WriteNetstat prints /proc/net/netstat.
func (s *Stack) WriteNetstat(w io.Writer) error { return s.mib.WriteNetstat(w) }

// WriteSoftnetStat prints /proc/net/softnet_stat.
func (s *Stack) WriteSoftnetStat(w io.Writer) error { return s.mib.WriteSoftnetStat(w) }

// WriteProcNetUDP prints /proc/net/udp.
func (s *Stack) WriteProcNetUDP(w io.Writer) error { return s.udp.WriteProcNetUDP(w) }

// WriteSockstat prints /proc/net/sockstat's UDP and FRAG lines.
func (s *Stack) WriteSockstat(w io.Writer) error {
	s.bh.Lock()
	q, mem := s.ip.FragMem()
	s.bh.Unlock()
	_, err := fmt.Fprintf(w, "UDP: inuse %d mem %d\nUDPLITE: inuse 0\nRAW: inuse 0\nFRAG: inuse %d memory %d\n",
		s.udp.InUse(), s.udp.MemAllocated(), q, mem)
	return err
}

// WriteDevStats prints the device counters in the layout of
// `ip -s -s link` (RX and TX lines) plus otherhost drops.
func (s *Stack) WriteDevStats(w io.Writer) error {
	st := &s.dev.Stats
	_, err := fmt.Fprintf(w, "%d: %s: mtu %d\n    link/ether %s\n"+
		"    RX:  bytes packets errors dropped  missed   mcast\n    %d %d %d %d 0 0\n"+
		"    RX errors:  length    crc   frame    fifo overrun otherhost\n    %d 0 0 0 0 %d\n"+
		"    TX:  bytes packets errors dropped carrier collsns\n    %d %d 0 %d 0 0\n",
		s.dev.Ifindex, s.dev.Name, s.dev.MTU, s.dev.MAC,
		st.RxBytes.Load(), st.RxPackets.Load(), st.RxLengthErrors.Load(), st.RxDropped.Load(),
		st.RxLengthErrors.Load(), st.RxOtherhostDropped.Load(),
		st.TxBytes.Load(), st.TxPackets.Load(), st.TxDropped.Load())
	return err
}

// SetSoftnetNAPI stores the NAPI layer's counts of softnet_data, which
// /proc/net/softnet_stat shows beside the stack's own processed count:
// dropped (frames the backlog refused) and time_squeeze (polls that
// ran out of budget or time with work left).
func (s *Stack) SetSoftnetNAPI(dropped, timeSqueeze uint64) {
	s.mib.Softnet.Dropped.Store(dropped)
	s.mib.Softnet.TimeSqueeze.Store(timeSqueeze)
}

// Latency returns the receive-path latency histograms (T0…T3, see
// package latency), which the stats service prints and resets; nil when
// Config.NoLatencyTrace turned the trace off.
func (s *Stack) Latency() *latency.Trace { return s.udp.Latency }

// WriteDrops prints the per-reason drop counters.
func (s *Stack) WriteDrops(w io.Writer) error { return s.mib.WriteDrops(w) }

// Counter returns one MIB counter by its group and name in
// /proc/net/snmp and /proc/net/netstat ("Udp.InErrors",
// "IcmpMsg.InType8", "TcpExt.UDPMemErrors") or a drop reason's
// ("Drop.NO_SOCKET"); ok is false for a name the stack does not keep.
func (s *Stack) Counter(name string) (v uint64, ok bool) { return s.mib.Value(name) }

// withBH runs f with the BH lock held (for tests that walk tables).
func (s *Stack) withBH(f func()) {
	s.bh.Lock()
	defer s.bh.Unlock()
	f()
}
