package packet

import (
	"bytes"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/kaidoku-net/kaidoku/netstack/internal/ether"
	"github.com/kaidoku-net/kaidoku/netstack/internal/mib"
	"github.com/kaidoku-net/kaidoku/netstack/internal/wire"
	"github.com/kaidoku-net/kaidoku/netstack/skb"
)

const (
	ethPTest = 0x88b5 // IEEE local experimental EtherType: no handler
	rxTime   = int64(1_700_000_000_123_456_789)
)

var (
	ourMAC  = wire.MAC{0x52, 0x54, 0x00, 0x12, 0x34, 0x56}
	peerMAC = wire.MAC{0x02, 0, 0, 0, 0, 9}
)

// recLink is a driver that records what the device transmits.
type recLink struct {
	mu sync.Mutex
	// +checklocks:mu
	sent [][]byte
}

func (l *recLink) Transmit(b *skb.Buffer) error {
	l.mu.Lock()
	l.sent = append(l.sent, append([]byte(nil), b.Data()...))
	l.mu.Unlock()
	b.Free()
	return nil
}
func (l *recLink) MAC() [6]byte  { return ourMAC }
func (l *recLink) MTU() int      { return 1500 }
func (l *recLink) Headroom() int { return 12 }

func (l *recLink) take() [][]byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.sent
	l.sent = nil
	return s
}

// harness is one namespace: lo (1), eth0 (2) and eth1 (3), a pool for
// the frames drivers hand in and the packet table with its own pools.
type harness struct {
	t          *testing.T
	mib        *mib.MIB
	net        *ether.Net
	lo         *ether.Device
	eth0, eth1 *ether.Device
	link       *recLink
	rx         *skb.Pool // frames as the driver hands them in
	tab        *Table
}

func newPool(t *testing.T, name string, size, count int) *skb.Pool {
	t.Helper()
	p, err := skb.NewPool(name, size, count, skb.HeapMemory)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// newHarness builds the namespace; cfg, if set, changes the table's
// configuration (its pools) before the table is made. At cleanup, after
// the sockets' own cleanups have released them, every pool must be back
// to empty.
func newHarness(t *testing.T, cfg func(*Config)) *harness {
	t.Helper()
	h := &harness{t: t, mib: new(mib.MIB), link: &recLink{}, rx: newPool(t, "rx", 2048, 16)}
	h.net = ether.NewNet(h.mib, new(sync.Mutex))
	h.lo = h.net.Loopback()
	var err error
	if h.eth0, err = h.net.NewDevice(h.link, 2, "eth0"); err != nil {
		t.Fatal(err)
	}
	if h.eth1, err = h.net.NewDevice(&recLink{}, 3, "eth1"); err != nil {
		t.Fatal(err)
	}
	c := Config{Net: h.net, MIB: h.mib, Pool: newPool(t, "packet", 2048, 64),
		Now: func() int64 { return rxTime }}
	if cfg != nil {
		cfg(&c)
	}
	h.tab = New(c)
	t.Cleanup(func() {
		for _, p := range []*skb.Pool{h.rx, c.Pool, c.LargePool} {
			if p != nil && p.InUse() != 0 {
				t.Errorf("pool %s: %d buffers not freed", p.Name(), p.InUse())
			}
		}
	})
	return h
}

// sock creates a socket released at cleanup; proto is in host order.
func (h *harness) sock(typ int, proto uint16) *Sock {
	h.t.Helper()
	sk, rc := h.tab.Create(typ, Htons(proto))
	if rc != 0 {
		h.t.Fatalf("Create(%d, %#x) = %d", typ, proto, rc)
	}
	h.t.Cleanup(sk.Release)
	return sk
}

func (h *harness) bind(sk *Sock, proto uint16, ifindex int) {
	h.t.Helper()
	if rc := sk.Bind(&Sockaddr{Family: AFPacket, Protocol: Htons(proto), Ifindex: int32(ifindex)}); rc != 0 {
		h.t.Fatalf("Bind(%#x, %d) = %d", proto, ifindex, rc)
	}
}

func ethFrame(dst, src wire.MAC, typ uint16, payload string) []byte {
	f := make([]byte, wire.EthHLen+len(payload))
	wire.PutEth(f, dst, src, typ)
	copy(f[wire.EthHLen:], payload)
	return f
}

// rxBuf returns frame as it reaches the ptype walks of
// __netif_receive_skb_core on d: eth_type_trans has pulled the Ethernet
// header (the MAC header before the data, the network header at it) and
// set skb->protocol; mod, if set, changes it further.
func (h *harness) rxBuf(d *ether.Device, frame []byte, pkt skb.PacketType, mod func(*skb.Buffer)) *skb.Buffer {
	h.t.Helper()
	b := h.rx.Get()
	if b == nil {
		h.t.Fatal("rx pool empty")
	}
	b.Reserve(12)
	copy(b.Put(len(frame)), frame)
	b.MAC = b.DataOffset()
	b.Pull(wire.EthHLen)
	b.Network = b.DataOffset()
	b.Protocol = wire.Eth(frame).Type()
	b.PktType = pkt
	b.Ifindex = d.Ifindex
	if mod != nil {
		mod(b)
	}
	return b
}

// rcvType runs the ptype_base walk for a received frame, as
// deliver_ptype_list_skb does, and frees the frame as the caller of the
// walk would.
func (h *harness) rcvType(d *ether.Device, frame []byte, mod func(*skb.Buffer)) bool {
	h.t.Helper()
	b := h.rxBuf(d, frame, skb.PacketHost, mod)
	defer b.Free()
	return h.tab.RcvType(b, d)
}

// rcvAll runs the ptype_all walk for a received frame.
func (h *harness) rcvAll(d *ether.Device, frame []byte, mod func(*skb.Buffer)) bool {
	h.t.Helper()
	b := h.rxBuf(d, frame, skb.PacketHost, mod)
	defer b.Free()
	return h.tab.RcvAll(b, d, b.PktType)
}

// receive hands frame to d's driver entry point: the whole receive path
// of the device layer runs, af_packet's walks included.
func (h *harness) receive(d *ether.Device, frame []byte, mod func(*skb.Buffer)) {
	h.t.Helper()
	b := h.rx.Get()
	if b == nil {
		h.t.Fatal("rx pool empty")
	}
	b.Reserve(12)
	copy(b.Put(len(frame)), frame)
	if mod != nil {
		mod(b)
	}
	d.Receive(b)
}

type frameGot struct {
	data []byte
	m    Msg
}

// drain reads every queued frame without waiting.
func drain(t *testing.T, sk *Sock) []frameGot {
	t.Helper()
	var got []frameGot
	for {
		buf := make([]byte, 2048)
		var m Msg
		n := sk.Recvmsg(buf, RecvOpts{}, &m)
		if n == -EAGAIN {
			return got
		}
		if n < 0 {
			t.Fatalf("Recvmsg = %d", n)
		}
		got = append(got, frameGot{buf[:n], m})
	}
}

// qlen is the length of sk_receive_queue, read under its lock.
func (sk *Sock) qlen() int {
	sk.mu.Lock()
	defer sk.mu.Unlock()
	return len(sk.q)
}

// isRunning is po->running (PACKET_SOCK_RUNNING), read under bind_lock.
func (sk *Sock) isRunning() bool {
	sk.bindMu.Lock()
	defer sk.bindMu.Unlock()
	return sk.running
}

// packet_create accepts SOCK_RAW and SOCK_DGRAM only (kaidoku has no
// SOCK_PACKET); any other type is -ESOCKTNOSUPPORT and no socket is
// counted in use.
func TestCreateAcceptsRawAndDgramOnly(t *testing.T) {
	for _, tc := range []struct {
		typ    int
		wantRC int
	}{
		{SockRaw, 0},
		{SockDgram, 0},
		{1 /* SOCK_STREAM */, -ESOCKTNOTSUP},
		{5 /* SOCK_SEQPACKET */, -ESOCKTNOTSUP},
		{10 /* SOCK_PACKET */, -ESOCKTNOTSUP},
		{0, -ESOCKTNOTSUP},
	} {
		t.Run(fmt.Sprint(tc.typ), func(t *testing.T) {
			h := newHarness(t, nil)
			sk, rc := h.tab.Create(tc.typ, Htons(EthPAll))
			if rc != tc.wantRC || (sk != nil) != (rc == 0) {
				t.Fatalf("Create(%d) = %v, %d; want rc %d", tc.typ, sk, rc, tc.wantRC)
			}
			want := 0
			if sk != nil {
				want = 1
				if sk.Type() != tc.typ || sk.Protocol() != Htons(EthPAll) || sk.Rcvbuf() != RmemDefault {
					t.Errorf("type %d protocol %#x rcvbuf %d", sk.Type(), sk.Protocol(), sk.Rcvbuf())
				}
				defer sk.Release()
			} else if len(h.tab.loadHooks()) != 0 {
				t.Errorf("a refused socket registered a hook")
			}
			if h.tab.InUse() != want {
				t.Errorf("InUse %d, want %d", h.tab.InUse(), want)
			}
		})
	}
}

// The prot_hook as packet_create and packet_do_bind leave it: which
// ptype walk (ptype_all for ETH_P_ALL, ptype_base for one EtherType)
// reaches the socket, on which devices, for which EtherTypes. Each
// probe that matches must queue exactly one copy: a rebind that
// registered the hook again without removing the old one would queue
// two.
func TestBindRegistersTheHookWalksDeliverTo(t *testing.T) {
	type bind struct {
		proto   uint16 // host order; 0 keeps the socket's
		ifindex int
		rc      int
	}
	every := func(path string, types ...uint16) []string {
		var w []string
		for _, d := range []int{1, 2, 3} {
			for _, typ := range types {
				w = append(w, fmt.Sprintf("%s/%d/%#x", path, d, typ))
			}
		}
		return w
	}
	for _, tc := range []struct {
		name      string
		proto     uint16 // at create, host order
		binds     []bind
		want      []string // "walk/ifindex/EtherType" probes that deliver
		wantProto uint16
		wantIf    int32
	}{
		{"no protocol: no hook", 0, nil, nil, 0, 0},
		{"ETH_P_ALL at create: ptype_all on every device", EthPAll, nil,
			every("all", ethPTest, wire.EthPIP), EthPAll, 0},
		{"EtherType at create: ptype_base on every device", ethPTest, nil,
			every("type", ethPTest), ethPTest, 0},
		{"bound to a device: only that device", EthPAll, []bind{{0, 2, 0}},
			[]string{"all/2/0x88b5", "all/2/0x800"}, EthPAll, 2},
		{"bound to another device: the hook moves", EthPAll, []bind{{0, 2, 0}, {0, 3, 0}},
			[]string{"all/3/0x88b5", "all/3/0x800"}, EthPAll, 3},
		{"back to every device", EthPAll, []bind{{0, 2, 0}, {0, 0, 0}},
			every("all", ethPTest, wire.EthPIP), EthPAll, 0},
		{"bound to another protocol: ptype_all to ptype_base", EthPAll, []bind{{ethPTest, 0, 0}},
			every("type", ethPTest), ethPTest, 0},
		{"bound to another EtherType: the old one no longer delivers", wire.EthPIP, []bind{{ethPTest, 2, 0}},
			[]string{"type/2/0x88b5"}, ethPTest, 2},
		{"protocol 0 keeps the socket's", ethPTest, []bind{{0, 2, 0}},
			[]string{"type/2/0x88b5"}, ethPTest, 2},
		{"the same protocol and device again: registered once", ethPTest, []bind{{ethPTest, 0, 0}, {ethPTest, 0, 0}},
			every("type", ethPTest), ethPTest, 0},
		{"a protocol given by bind", 0, []bind{{wire.EthPIP, 3, 0}},
			[]string{"type/3/0x800"}, wire.EthPIP, 3},
		{"bound to a device without a protocol: still no hook", 0, []bind{{0, 2, 0}}, nil, 0, 2},
		{"an unknown device: -ENODEV, the hook stays", EthPAll, []bind{{ethPTest, 9, -ENODEV}},
			every("all", ethPTest, wire.EthPIP), EthPAll, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, nil)
			sk := h.sock(SockRaw, tc.proto)
			for _, b := range tc.binds {
				if rc := sk.Bind(&Sockaddr{Family: AFPacket, Protocol: Htons(b.proto), Ifindex: int32(b.ifindex)}); rc != b.rc {
					t.Fatalf("Bind(%#x, %d) = %d, want %d", b.proto, b.ifindex, rc, b.rc)
				}
			}
			var got []string
			for _, d := range []*ether.Device{h.lo, h.eth0, h.eth1} {
				for _, typ := range []uint16{ethPTest, wire.EthPIP} {
					f := ethFrame(d.MAC, peerMAC, typ, "probe")
					if h.rcvAll(d, f, nil) {
						got = append(got, fmt.Sprintf("all/%d/%#x", d.Ifindex, typ))
					}
					if h.rcvType(d, f, nil) {
						got = append(got, fmt.Sprintf("type/%d/%#x", d.Ifindex, typ))
					}
				}
			}
			if !slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(tc.want))) {
				t.Errorf("delivering walks %v, want %v", got, tc.want)
			}
			if n := len(drain(t, sk)); n != len(tc.want) {
				t.Errorf("%d frames queued for %d deliveries", n, len(tc.want))
			}
			if sk.isRunning() != (len(tc.want) > 0) || len(h.tab.loadHooks()) != min(len(tc.want), 1) {
				t.Errorf("running %v with %d hooks registered", sk.isRunning(), len(h.tab.loadHooks()))
			}
			if sk.Protocol() != Htons(tc.wantProto) {
				t.Errorf("po->num %#x, want %#x", sk.Protocol(), Htons(tc.wantProto))
			}
			if sa, n := sk.Getname(); sa.Ifindex != tc.wantIf || sa.Protocol != Htons(tc.wantProto) ||
				(tc.wantIf == 0) != (n == 12) {
				t.Errorf("packet_getname %+v, %d", sa, n)
			}
		})
	}
}

// packet_bind refuses an address that is not AF_PACKET before looking
// at anything else (the hook is left as it was).
func TestBindRefusesAnotherFamily(t *testing.T) {
	h := newHarness(t, nil)
	sk := h.sock(SockRaw, ethPTest)
	for _, sa := range []*Sockaddr{nil, {Family: 2 /* AF_INET */, Protocol: Htons(wire.EthPIP)}} {
		if rc := sk.Bind(sa); rc != -EINVAL {
			t.Errorf("Bind(%+v) = %d, want -EINVAL", sa, rc)
		}
	}
	if sk.Protocol() != Htons(ethPTest) || !h.rcvType(h.eth0, ethFrame(ourMAC, peerMAC, ethPTest, "x"), nil) {
		t.Errorf("a refused bind changed the hook: protocol %#x", sk.Protocol())
	}
	drain(t, sk)
}

// packet_release: the hook goes first (no frame reaches the socket
// after), the queued frames are purged with their charge to the
// receive buffer, sock_prot_inuse_add counts the socket out, and a
// receive then fails.
func TestReleaseUnregistersAndPurges(t *testing.T) {
	h := newHarness(t, nil)
	other := h.sock(SockRaw, EthPAll)
	sk, rc := h.tab.Create(SockRaw, Htons(EthPAll))
	if rc != 0 {
		t.Fatal(rc)
	}
	if h.tab.InUse() != 2 {
		t.Fatalf("InUse %d", h.tab.InUse())
	}
	f := ethFrame(ourMAC, peerMAC, ethPTest, "queued before release")
	h.rcvAll(h.eth0, f, nil)
	h.rcvAll(h.eth0, f, nil)
	if sk.qlen() != 2 || sk.RmemAlloc() == 0 {
		t.Fatalf("queued %d, rmem %d", sk.qlen(), sk.RmemAlloc())
	}
	sk.Release()
	if h.tab.InUse() != 1 || sk.isRunning() || len(h.tab.loadHooks()) != 1 {
		t.Errorf("after release: InUse %d, running %v, %d hooks", h.tab.InUse(), sk.isRunning(), len(h.tab.loadHooks()))
	}
	if sk.qlen() != 0 || sk.RmemAlloc() != 0 || sk.Readable() {
		t.Errorf("after release: queued %d, rmem %d", sk.qlen(), sk.RmemAlloc())
	}
	// The remaining socket still gets frames; the released one does not.
	h.rcvAll(h.eth0, f, nil)
	if sk.qlen() != 0 || other.qlen() != 3 {
		t.Errorf("released socket queued %d, other %d", sk.qlen(), other.qlen())
	}
	var m Msg
	if n := sk.Recvmsg(make([]byte, 64), RecvOpts{Timeo: -1}, &m); n != -EBADF {
		t.Errorf("Recvmsg after release = %d, want -EBADF", n)
	}
	drain(t, other)
}

// packet_rcv charges each queued copy's truesize to sk_rmem_alloc
// (skb_set_owner_r) and refuses a frame once the charge has reached
// sk_rcvbuf (the check is before the charge, so the last frame may
// overshoot), counting po->tp_drops, sk_drops and
// SKB_DROP_REASON_PACKET_SOCK_ERROR. PACKET_STATISTICS
// (packet_getsockopt) returns tp_packets including the drops and resets
// both; sk_drops is not reset.
func TestRcvbufChargesTruesizeAndDropsPastIt(t *testing.T) {
	for _, tc := range []struct {
		name             string
		truesize, frames int
		queued           int
	}{
		// sk_rcvbuf is SOCK_MIN_RCVBUF, 2304.
		{"three fit", 1000, 5, 3},
		{"one under the limit: the next is still taken", 2303, 3, 2},
		{"exactly the limit: the next is refused", 2304, 3, 1},
		{"one frame beyond the limit is taken on an empty queue", 5000, 2, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var copies *skb.Pool
			h := newHarness(t, func(c *Config) { copies = c.Pool })
			sk := h.sock(SockRaw, ethPTest)
			sk.SetRcvbuf(1)
			setTruesize := func(b *skb.Buffer) { b.Truesize = tc.truesize }
			f := ethFrame(ourMAC, peerMAC, ethPTest, "rcvbuf")
			for i := 0; i < tc.frames; i++ {
				h.rcvType(h.eth0, f, setTruesize)
			}
			drops := tc.frames - tc.queued
			if sk.qlen() != tc.queued || sk.RmemAlloc() != tc.queued*tc.truesize {
				t.Errorf("queued %d with rmem %d, want %d with %d", sk.qlen(), sk.RmemAlloc(), tc.queued, tc.queued*tc.truesize)
			}
			// A refused frame is not copied.
			if copies.InUse() != tc.queued {
				t.Errorf("%d copies held for %d frames queued", copies.InUse(), tc.queued)
			}
			if sk.Drops() != uint32(drops) || h.mib.Drops[mib.DropPacketSockError].Load() != uint64(drops) {
				t.Errorf("sk_drops %d, PACKET_SOCK_ERROR %d, want %d", sk.Drops(), h.mib.Drops[mib.DropPacketSockError].Load(), drops)
			}
			if st := sk.Statistics(); st != (Stats{Packets: uint32(tc.frames), Drops: uint32(drops)}) {
				t.Errorf("PACKET_STATISTICS %+v, want packets %d drops %d", st, tc.frames, drops)
			}
			if st := sk.Statistics(); st != (Stats{}) {
				t.Errorf("second PACKET_STATISTICS %+v, want zero", st)
			}
			if sk.Drops() != uint32(drops) {
				t.Errorf("PACKET_STATISTICS reset sk_drops to %d", sk.Drops())
			}
			// Reading uncharges (sock_rfree): the buffer has room again.
			drain(t, sk)
			if sk.RmemAlloc() != 0 || copies.InUse() != 0 {
				t.Errorf("after reading: rmem %d, copies %d", sk.RmemAlloc(), copies.InUse())
			}
			h.rcvType(h.eth0, f, setTruesize)
			if st := sk.Statistics(); st != (Stats{Packets: 1}) {
				t.Errorf("PACKET_STATISTICS after reading %+v, want one packet", st)
			}
			drain(t, sk)
		})
	}
}

// SO_RCVBUF (sock_setsockopt → __sock_set_rcvbuf): the value, taken as
// unsigned, is clamped to rmem_max, then doubled, and never below
// SOCK_MIN_RCVBUF.
func TestSetRcvbufClampsAndDoubles(t *testing.T) {
	h := newHarness(t, nil)
	sk := h.sock(SockDgram, 0)
	for _, tc := range []struct {
		v    int32
		want int
	}{
		{0, SockMinRcvbuf},
		{1, SockMinRcvbuf},
		{SockMinRcvbuf/2 + 1, SockMinRcvbuf + 2},
		{5000, 10000},
		{RmemMax, 2 * RmemMax},
		{RmemMax + 1, 2 * RmemMax},
		{-1, 2 * RmemMax},
	} {
		sk.SetRcvbuf(tc.v)
		if sk.Rcvbuf() != tc.want {
			t.Errorf("SO_RCVBUF %d: sk_rcvbuf %d, want %d", tc.v, sk.Rcvbuf(), tc.want)
		}
	}
}

// The copy packet_rcv queues comes from the frame pool, or the large
// pool for what does not fit; when neither can give one (skb_clone
// failing) the frame is a drop_n_acct drop like a full receive buffer.
func TestRcvCopyFailureIsCountedDrop(t *testing.T) {
	for _, tc := range []struct {
		name       string
		large      bool
		sizes      []int // payload lengths
		wantQueued int
		wantLarge  int // copies held by the large pool
	}{
		{"frame pool", true, []int{50}, 1, 0},
		{"too large for the frame pool: large pool", true, []int{500}, 1, 1},
		{"too large, no large pool", false, []int{500}, 0, 0},
		{"frame pool exhausted", false, []int{50, 50}, 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var large *skb.Pool
			h := newHarness(t, func(c *Config) {
				c.Pool = newPool(t, "packet", 128, 1)
				if tc.large {
					large = newPool(t, "large", 2048, 2)
					c.LargePool = large
				}
			})
			sk := h.sock(SockRaw, ethPTest)
			for _, n := range tc.sizes {
				h.rcvType(h.eth0, ethFrame(ourMAC, peerMAC, ethPTest, string(make([]byte, n))), nil)
			}
			drops := len(tc.sizes) - tc.wantQueued
			if sk.qlen() != tc.wantQueued || (large != nil && large.InUse() != tc.wantLarge) {
				t.Errorf("queued %d, want %d", sk.qlen(), tc.wantQueued)
			}
			if st := sk.Statistics(); st.Drops != uint32(drops) || sk.Drops() != uint32(drops) ||
				h.mib.Drops[mib.DropPacketSockError].Load() != uint64(drops) {
				t.Errorf("statistics %+v, sk_drops %d, want %d drops", st, sk.Drops(), drops)
			}
			for _, g := range drain(t, sk) {
				if len(g.data) != wire.EthHLen+tc.sizes[0] {
					t.Errorf("copy of %d bytes", len(g.data))
				}
			}
		})
	}
}

// What packet_rcv queues and packet_recvmsg returns for each socket
// type: SOCK_RAW the frame from its Ethernet header (an 802.1Q tag
// skb_vlan_untag took out left out, as after skb_reorder_vlan_header),
// SOCK_DGRAM from the network header; a transmitted frame
// (dev_queue_xmit_nit) as PACKET_OUTGOING, with the source address of
// its Ethernet header in sll_addr (dev_parse_header). tp_net is
// skb_network_offset of what was queued.
func TestRawFramesKeepTheLinkHeaderDgramFramesDoNot(t *testing.T) {
	in := ethFrame(ourMAC, peerMAC, ethPTest, "a received frame")
	tagged := make([]byte, 0, len(in)+4)
	tagged = append(tagged, in[:12]...)
	tagged = append(tagged, 0x81, 0x00, 0x00, 0x05)
	tagged = append(tagged, in[12:]...)
	out := ethFrame(peerMAC, ourMAC, ethPTest, "a sent frame")
	for _, tc := range []struct {
		name     string
		typ      int
		tx       bool
		frame    []byte
		want     []byte
		pkttype  uint8
		src      wire.MAC
		net      uint16
		vlan     bool
		wantStat uint32
	}{
		{"raw received", SockRaw, false, in, in, PacketHost, peerMAC, 14, false, TPStatusUser},
		{"dgram received", SockDgram, false, in, in[14:], PacketHost, peerMAC, 0, false, TPStatusUser},
		{"raw received tagged", SockRaw, false, tagged, in, PacketHost, peerMAC, 14, true,
			TPStatusUser | TPStatusVlanValid | TPStatusVlanTPIDValid},
		{"dgram received tagged", SockDgram, false, tagged, in[14:], PacketHost, peerMAC, 0, true,
			TPStatusUser | TPStatusVlanValid | TPStatusVlanTPIDValid},
		{"raw sent", SockRaw, true, out, out, PacketOutgoing, ourMAC, 14, false, TPStatusUser},
		{"dgram sent", SockDgram, true, out, out[14:], PacketOutgoing, ourMAC, 0, false, TPStatusUser},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, nil)
			sk := h.sock(tc.typ, EthPAll)
			sk.SetAuxdata(true)
			if tc.tx {
				tx := h.sock(SockRaw, 0)
				h.bind(tx, 0, 2)
				if n := tx.Sendmsg(tc.frame, nil); n != len(tc.frame) {
					t.Fatalf("Sendmsg = %d", n)
				}
				if s := h.link.take(); len(s) != 1 || !bytes.Equal(s[0], tc.frame) {
					t.Fatalf("sent %x", s)
				}
			} else {
				h.receive(h.eth0, tc.frame, nil)
			}
			got := drain(t, sk)
			if len(got) != 1 {
				t.Fatalf("%d frames queued", len(got))
			}
			g := got[0]
			if !bytes.Equal(g.data, tc.want) {
				t.Errorf("data %x, want %x", g.data, tc.want)
			}
			wantSA := Sockaddr{Family: AFPacket, Protocol: Htons(ethPTest), Ifindex: 2, Hatype: 1,
				Pkttype: tc.pkttype, Halen: 6}
			copy(wantSA.Addr[:], tc.src[:])
			if g.m.Name != wantSA || g.m.Namelen != SizeofSockaddrLL {
				t.Errorf("sockaddr_ll %+v (%d), want %+v", g.m.Name, g.m.Namelen, wantSA)
			}
			wantAux := Auxdata{Status: tc.wantStat, Len: uint32(len(tc.want)), Snaplen: uint32(len(tc.want)), Net: tc.net}
			if tc.vlan {
				wantAux.VlanTCI, wantAux.VlanTPID = 5, wire.EthP8021Q
			}
			if !g.m.HasAuxdata || g.m.Auxdata != wantAux {
				t.Errorf("auxdata %+v, want %+v", g.m.Auxdata, wantAux)
			}
			if g.m.Origlen != len(tc.want) || g.m.Tstamp != rxTime {
				t.Errorf("origlen %d, tstamp %d", g.m.Origlen, g.m.Tstamp)
			}
		})
	}
}

// dev_queue_xmit_nit skips the socket a frame came from (skb_loop_sk)
// and sockets with PACKET_IGNORE_OUTGOING; neither applies to received
// frames, whatever skb->sk they carry.
func TestOutgoingFramesSkipTheSenderAndIgnoreOutgoing(t *testing.T) {
	for _, tc := range []struct {
		name      string
		pkt       skb.PacketType
		fromSk    bool
		ignoreOut bool
		want      bool
	}{
		{"another socket's frame", ether.PacketOutgoing, false, false, true},
		{"its own frame", ether.PacketOutgoing, true, false, false},
		{"PACKET_IGNORE_OUTGOING", ether.PacketOutgoing, false, true, false},
		{"received, skb->sk set", skb.PacketHost, true, false, true},
		{"received, PACKET_IGNORE_OUTGOING", skb.PacketHost, false, true, true},
		{"looped-back copy", skb.PacketLoopback, false, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, nil)
			sk := h.sock(SockRaw, EthPAll)
			sk.SetIgnoreOutgoing(tc.ignoreOut)
			b := h.rxBuf(h.eth0, ethFrame(peerMAC, ourMAC, ethPTest, "x"), tc.pkt, nil)
			if tc.pkt == ether.PacketOutgoing {
				// As handed to dev_queue_xmit: data at the Ethernet header.
				b.Push(wire.EthHLen)
			}
			if tc.fromSk {
				b.Sk = sk
			}
			h.tab.RcvAll(b, h.eth0, tc.pkt)
			b.Free()
			if got := len(drain(t, sk)) == 1; got != tc.want {
				t.Errorf("delivered %v, want %v", got, tc.want)
			}
		})
	}
}

// packet_recvmsg's flags: data beyond the buffer is lost and MSG_TRUNC
// set in msg_flags; MSG_TRUNC in the call makes it return the frame's
// length (skb->len) instead of the bytes copied; MSG_PEEK leaves the
// frame queued and charged. Flags outside the accepted set are -EINVAL
// and MSG_ERRQUEUE finds nothing (-EAGAIN); both leave the frame.
func TestRecvmsgTruncAndPeek(t *testing.T) {
	f := ethFrame(ourMAC, peerMAC, ethPTest, "forty-six bytes of payload after the header")
	L := len(f)
	for _, tc := range []struct {
		name      string
		buf       int
		flags     int
		wantRC    int
		wantTrunc bool // MSG_TRUNC in msg_flags
		stays     bool // still queued after
	}{
		{"fits", 100, 0, L, false, false},
		{"exact", L, 0, L, false, false},
		{"cut", 10, 0, 10, true, false},
		{"cut, MSG_TRUNC returns the real length", 10, MsgTrunc, L, true, false},
		{"fits, MSG_TRUNC", 100, MsgTrunc, L, false, false},
		{"peek", 100, MsgPeek, L, false, true},
		{"peek cut", 10, MsgPeek, 10, true, true},
		{"peek cut, MSG_TRUNC", 10, MsgPeek | MsgTrunc, L, true, true},
		{"MSG_DONTWAIT and MSG_CMSG_COMPAT accepted", 100, MsgDontwait | MsgCmsgComp, L, false, false},
		{"MSG_OOB", 100, 0x1, -EINVAL, false, true},
		{"MSG_WAITALL", 100, 0x100, -EINVAL, false, true},
		{"MSG_ERRQUEUE", 100, MsgErrqueue, -EAGAIN, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, nil)
			sk := h.sock(SockRaw, ethPTest)
			h.rcvType(h.eth0, f, nil)
			rmem := sk.RmemAlloc()
			buf := make([]byte, tc.buf)
			m := Msg{Flags: -1}
			rc := sk.Recvmsg(buf, RecvOpts{Flags: tc.flags}, &m)
			if rc != tc.wantRC {
				t.Fatalf("Recvmsg = %d, want %d", rc, tc.wantRC)
			}
			if rc >= 0 {
				n := min(tc.buf, L)
				if !bytes.Equal(buf[:n], f[:n]) {
					t.Errorf("data %x", buf[:n])
				}
				if (m.Flags&MsgTrunc != 0) != tc.wantTrunc || m.Flags&^MsgTrunc != 0 {
					t.Errorf("msg_flags %#x", m.Flags)
				}
			}
			wantInq := 0
			if tc.stays {
				wantInq = L
			}
			if sk.Readable() != tc.stays || sk.Inq() != wantInq {
				t.Fatalf("queued %v (SIOCINQ %d), want %v", sk.Readable(), sk.Inq(), tc.stays)
			}
			if tc.stays {
				if sk.RmemAlloc() != rmem {
					t.Errorf("rmem %d, want %d", sk.RmemAlloc(), rmem)
				}
				// The frame left queued is the same frame, whole.
				got := drain(t, sk)
				if len(got) != 1 || !bytes.Equal(got[0].data, f) {
					t.Errorf("then read %d frames", len(got))
				}
			}
			if sk.RmemAlloc() != 0 || sk.Readable() {
				t.Errorf("at the end: rmem %d, readable %v", sk.RmemAlloc(), sk.Readable())
			}
		})
	}
}

// A filter (run_filter) sees the frame as the socket would queue it;
// 0 refuses it without counting anything (drop_n_restore), a smaller
// value cuts it to that many bytes (tp_snaplen) while tp_len keeps the
// original length, and MSG_TRUNC then reports the cut length, skb->len,
// as packet_recvmsg does.
func TestFilterRefusesOrCutsFrames(t *testing.T) {
	f := ethFrame(ourMAC, peerMAC, ethPTest, "filtered payload")
	for _, tc := range []struct {
		name    string
		typ     int
		keep    int
		wantLen int // 0: refused
	}{
		{"raw refused", SockRaw, 0, 0},
		{"raw cut", SockRaw, 16, 16},
		{"raw kept whole", SockRaw, 0xffff, len(f)},
		{"dgram cut", SockDgram, 4, 4},
		{"dgram kept whole", SockDgram, 0xffff, len(f) - 14},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, nil)
			sk := h.sock(tc.typ, ethPTest)
			sk.SetAuxdata(true)
			var seen []byte
			sk.SetFilter(func(fr []byte) int {
				seen = append([]byte(nil), fr...)
				return tc.keep
			})
			h.rcvType(h.eth0, f, nil)
			whole := f
			if tc.typ == SockDgram {
				whole = f[14:]
			}
			if !bytes.Equal(seen, whole) {
				t.Errorf("filter saw %x, want %x", seen, whole)
			}
			if tc.wantLen == 0 {
				if sk.Readable() || sk.Statistics() != (Stats{}) || sk.Drops() != 0 {
					t.Errorf("a refused frame was queued or counted")
				}
				return
			}
			var m Msg
			buf := make([]byte, 100)
			if n := sk.Recvmsg(buf, RecvOpts{Flags: MsgTrunc}, &m); n != tc.wantLen || !bytes.Equal(buf[:n], whole[:n]) {
				t.Errorf("Recvmsg(MSG_TRUNC) = %d %x, want %d", n, buf[:max(n, 0)], tc.wantLen)
			}
			if m.Origlen != len(whole) || m.Auxdata.Len != uint32(len(whole)) || m.Auxdata.Snaplen != uint32(tc.wantLen) {
				t.Errorf("origlen %d, auxdata %+v", m.Origlen, m.Auxdata)
			}
			// Detached, the next frame is whole again.
			sk.SetFilter(nil)
			h.rcvType(h.eth0, f, nil)
			if n := sk.Recvmsg(buf, RecvOpts{}, &m); n != len(whole) {
				t.Errorf("without the filter: %d bytes", n)
			}
		})
	}
}

// tpacket_auxdata.tp_status as packet_recvmsg computes it from
// ip_summed: CHECKSUM_PARTIAL is TP_STATUS_CSUMNOTREADY, a checksum
// already verified (CHECKSUM_UNNECESSARY) TP_STATUS_CSUM_VALID, except
// on a transmitted frame; without PACKET_AUXDATA there is none.
func TestAuxdataChecksumStatus(t *testing.T) {
	for _, tc := range []struct {
		name    string
		summed  skb.Checksum
		pkt     skb.PacketType
		auxdata bool
		want    uint32
	}{
		{"none", skb.ChecksumNone, skb.PacketHost, true, TPStatusUser},
		{"unnecessary", skb.ChecksumUnnecessary, skb.PacketHost, true, TPStatusUser | TPStatusCsumValid},
		{"unnecessary, sent", skb.ChecksumUnnecessary, ether.PacketOutgoing, true, TPStatusUser},
		{"partial", skb.ChecksumPartial, skb.PacketHost, true, TPStatusUser | TPStatusCsumNotReady},
		{"partial, sent", skb.ChecksumPartial, ether.PacketOutgoing, true, TPStatusUser | TPStatusCsumNotReady},
		{"no PACKET_AUXDATA", skb.ChecksumUnnecessary, skb.PacketHost, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, nil)
			sk := h.sock(SockRaw, EthPAll)
			sk.SetAuxdata(tc.auxdata)
			b := h.rxBuf(h.eth0, ethFrame(ourMAC, peerMAC, ethPTest, "csum"), tc.pkt, func(b *skb.Buffer) { b.IPSummed = tc.summed })
			if tc.pkt == ether.PacketOutgoing {
				b.Push(wire.EthHLen)
			}
			h.tab.RcvAll(b, h.eth0, tc.pkt)
			b.Free()
			got := drain(t, sk)
			if len(got) != 1 {
				t.Fatalf("%d frames", len(got))
			}
			if got[0].m.HasAuxdata != tc.auxdata || got[0].m.Auxdata.Status != tc.want {
				t.Errorf("auxdata %v status %#x, want %#x", got[0].m.HasAuxdata, got[0].m.Auxdata.Status, tc.want)
			}
		})
	}
}

// struct tpacket_auxdata as put_cmsg copies it on x86_64: five u32/u16
// fields, little-endian, 20 bytes.
func TestAuxdataMarshalIsTpacketAuxdata(t *testing.T) {
	a := Auxdata{Status: 0x01020304, Len: 0x05060708, Snaplen: 0x090a0b0c, Mac: 0x0d0e, Net: 0x0f10, VlanTCI: 0x1112, VlanTPID: 0x1314}
	want := []byte{4, 3, 2, 1, 8, 7, 6, 5, 0xc, 0xb, 0xa, 9, 0xe, 0xd, 0x10, 0xf, 0x12, 0x11, 0x14, 0x13}
	if got := a.Marshal(); !bytes.Equal(got, want) || len(got) != SizeofAuxdata {
		t.Errorf("%x, want %x", got, want)
	}
}

// __skb_recv_datagram's wait: sk_data_ready wakes a receive blocked on
// an empty queue; MSG_DONTWAIT does not wait whatever the timeout; a
// timeout that expires is -EAGAIN (sock_rcvtimeo); Interrupt is a
// signal (-EINTR); a woken receive returns its abort condition.
// Interrupt and WakeAll reach only a receive already waiting, so the
// test repeats them until the receive returns.
func TestRecvmsgWaits(t *testing.T) {
	f := ethFrame(ourMAC, peerMAC, ethPTest, "wakes the reader")
	for _, tc := range []struct {
		name   string
		o      func() RecvOpts
		poke   func(h *harness, sk *Sock) // repeated until the receive returns
		wantRC int
		least  time.Duration // the receive waits at least this long
	}{
		{"woken by a frame", func() RecvOpts { return RecvOpts{Timeo: -1} },
			func(h *harness, sk *Sock) {
				if !sk.Readable() {
					h.rcvType(h.eth0, f, nil)
				}
			}, len(f), 0},
		{"MSG_DONTWAIT", func() RecvOpts { return RecvOpts{Flags: MsgDontwait, Timeo: -1} }, nil, -EAGAIN, 0},
		{"timeout", func() RecvOpts { return RecvOpts{Timeo: int64(20 * time.Millisecond)} }, nil, -EAGAIN, 20 * time.Millisecond},
		{"interrupted", func() RecvOpts { return RecvOpts{Timeo: -1} },
			func(h *harness, sk *Sock) { sk.Interrupt() }, -EINTR, 0},
		{"aborted", func() RecvOpts {
			return RecvOpts{Timeo: -1, Abort: func() int { return -ETIMEDOUT }}
		}, func(h *harness, sk *Sock) { sk.WakeAll() }, -ETIMEDOUT, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, nil)
			sk := h.sock(SockRaw, ethPTest)
			done := make(chan int, 1)
			start := time.Now()
			go func() {
				var m Msg
				done <- sk.Recvmsg(make([]byte, 100), tc.o(), &m)
			}()
			deadline := time.After(10 * time.Second)
			tick := time.NewTicker(time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case rc := <-done:
					if rc != tc.wantRC {
						t.Errorf("Recvmsg = %d, want %d", rc, tc.wantRC)
					}
					if time.Since(start) < tc.least {
						t.Errorf("timed out after %v", time.Since(start))
					}
					drain(t, sk)
					return
				case <-tick.C:
					if tc.poke != nil {
						tc.poke(h, sk)
					}
				case <-deadline:
					sk.Interrupt()
					t.Fatal("Recvmsg did not return")
				}
			}
		})
	}
}

// An Interrupt reaches a receive in progress even before it waits
// (RecvOpts.Signals taken when the call began), but not one with a frame
// queued, nor a receive that begins after it.
func TestInterruptBeforeTheWait(t *testing.T) {
	f := ethFrame(ourMAC, peerMAC, ethPTest, "queued")
	h := newHarness(t, nil)
	sk := h.sock(SockRaw, ethPTest)
	began := sk.Signals()
	sk.Interrupt()
	if rc := sk.Recvmsg(make([]byte, 100), RecvOpts{Timeo: int64(5 * time.Second), Signals: began}, &Msg{}); rc != -EINTR {
		t.Fatalf("a receive interrupted before its wait: %d, want -EINTR", rc)
	}
	h.rcvType(h.eth0, f, nil)
	if rc := sk.Recvmsg(make([]byte, 100), RecvOpts{Timeo: -1, Signals: began}, &Msg{}); rc != len(f) {
		t.Fatalf("an interrupted receive with a frame queued: %d, want %d", rc, len(f))
	}
	if rc := sk.Recvmsg(make([]byte, 100), RecvOpts{Timeo: int64(20 * time.Millisecond)}, &Msg{}); rc != -EAGAIN {
		t.Fatalf("a receive that began after the Interrupt: %d, want -EAGAIN (its timeout)", rc)
	}
}

// packet_snd → packet_parse_headers: a SOCK_RAW frame sent with
// protocol 0 or ETH_P_ALL takes skb->protocol from its Ethernet header;
// any other protocol is kept as given, which another socket sees in
// sll_protocol.
func TestSendRawProtocolFromHeaderOnlyWithout(t *testing.T) {
	frame := ethFrame(peerMAC, ourMAC, wire.EthPIP, "header says IPv4")
	for _, tc := range []struct {
		name  string
		proto uint16 // host order
		want  uint16
	}{
		{"protocol 0", 0, wire.EthPIP},
		{"ETH_P_ALL", EthPAll, wire.EthPIP},
		{"another protocol", ethPTest, ethPTest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, nil)
			watcher := h.sock(SockDgram, EthPAll)
			tx := h.sock(SockRaw, 0)
			h.bind(tx, 0, 2)
			to := &Sockaddr{Family: AFPacket, Protocol: Htons(tc.proto), Ifindex: 2}
			if n := tx.Sendmsg(frame, to); n != len(frame) {
				t.Fatalf("Sendmsg = %d", n)
			}
			h.link.take()
			got := drain(t, watcher)
			if len(got) != 1 || got[0].m.Name.Protocol != Htons(tc.want) {
				t.Fatalf("watcher got %+v", got)
			}
		})
	}
}

// packet_snd allocates the frame from the pools (sock_alloc_send_skb):
// none large enough is -ENOBUFS and nothing is sent.
func TestSendWithoutBufferIsENOBUFS(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Pool = newPool(t, "packet", 64, 4) })
	tx := h.sock(SockRaw, 0)
	h.bind(tx, ethPTest, 2)
	if n := tx.Sendmsg(ethFrame(peerMAC, ourMAC, ethPTest, "too big for 64 bytes with the headroom"), nil); n != -ENOBUFS {
		t.Errorf("Sendmsg = %d, want -ENOBUFS", n)
	}
	if s := h.link.take(); len(s) != 0 {
		t.Errorf("sent %x", s)
	}
	// A frame that fits goes.
	if f := ethFrame(peerMAC, ourMAC, ethPTest, "fits"); tx.Sendmsg(f, nil) != len(f) || len(h.link.take()) != 1 {
		t.Errorf("a small frame was not sent")
	}
}
