package netstack

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kaidoku-net/kaidoku/netstack/internal/clock"
	"github.com/kaidoku-net/kaidoku/netstack/internal/wire"
	"github.com/kaidoku-net/kaidoku/netstack/skb"
	"github.com/kaidoku-net/kaidoku/netstack/socket"
)

// Test topology of the conformance checklist (CHECKLIST.md): the guest 10.0.0.5/24 with MAC M, the
// tester 10.0.0.9 with MAC T.
var (
	macM   = wire.MAC{0x52, 0x54, 0x00, 0x12, 0x34, 0x56}
	macT   = wire.MAC{0x02, 0x00, 0x00, 0x00, 0x00, 0x09}
	ipM    = wire.AddrOf(10, 0, 0, 5)
	ipT    = wire.AddrOf(10, 0, 0, 9)
	ipBcst = wire.AddrOf(10, 0, 0, 255)
)

const virtioHeadroom = 12

// fakeLink captures transmitted frames.
type fakeLink struct {
	mu sync.Mutex
	// +checklocks:mu
	frames [][]byte
	// +checklocks:mu
	fail bool
}

func (l *fakeLink) Transmit(b *skb.Buffer) error {
	if b.Headroom() < virtioHeadroom {
		panic("transmit without driver headroom")
	}
	l.mu.Lock()
	if !l.fail {
		l.frames = append(l.frames, append([]byte(nil), b.Data()...))
	}
	l.mu.Unlock()
	b.Free()
	return nil
}
func (l *fakeLink) MAC() [6]byte  { return macM }
func (l *fakeLink) MTU() int      { return 1500 }
func (l *fakeLink) Headroom() int { return virtioHeadroom }

func (l *fakeLink) take() [][]byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.frames
	l.frames = nil
	return f
}

type env struct {
	t       testing.TB
	s       *Stack
	link    *fakeLink
	clk     *clock.Fake
	frames  *skb.Pool
	large   *skb.Pool
	rng     *rand.Rand
	base    map[string]uint64
	socks   []*socket.Socket
	noCheck bool
}

type envOpt func(*Config)

func newEnv(t testing.TB, opts ...envOpt) *env {
	t.Helper()
	frames, err := skb.NewPool("frames", 2048, 512, skb.HeapMemory)
	if err != nil {
		t.Fatal(err)
	}
	large, _ := skb.NewPool("large", 65536+128, 16, skb.HeapMemory)
	e := &env{t: t, link: &fakeLink{}, clk: &clock.Fake{}, frames: frames, large: large,
		rng: rand.New(rand.NewPCG(1, 2))}
	e.clk.Set(int64(1000 * time.Second))
	cfg := Config{Link: e.link, FramePool: frames, LargePool: large, Addr: ipM.As4(), PrefixLen: 24,
		Now: e.clk.Now, Rand: e.rng.Uint32, ManualTimers: true}
	for _, o := range opts {
		o(&cfg)
	}
	e.frames = cfg.FramePool
	if cfg.LargePool != nil {
		e.large = cfg.LargePool
	}
	e.s, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.cleanup)
	e.mark()
	return e
}

// cleanup closes sockets, expires reassembly queues, flushes the
// neighbour table and checks that every buffer went back to its pool.
func (e *env) cleanup() {
	for _, s := range e.socks {
		s.Close()
	}
	e.advance(61 * time.Second)
	e.s.neigh.Flush()
	e.link.take()
	if e.noCheck {
		return
	}
	if n := e.frames.InUse(); n != 0 {
		e.t.Errorf("leak: %d frame buffers still in use", n)
	}
	if n := e.large.InUse(); n != 0 {
		e.t.Errorf("leak: %d large buffers still in use", n)
	}
	if d := e.frames.Stats().DoubleFree + e.large.Stats().DoubleFree; d != 0 {
		e.t.Errorf("%d double frees", d)
	}
}

func (e *env) advance(d time.Duration) {
	e.clk.Advance(d)
	e.s.RunTimers()
}

func (e *env) mark() { e.base = e.s.mib.Snapshot() }

// delta returns a counter's change since mark.
func (e *env) delta(name string) int64 {
	v, ok := e.s.mib.Value(name)
	if !ok {
		e.t.Fatalf("unknown counter %s", name)
	}
	return int64(v) - int64(e.base[name])
}

// expect checks the listed counter deltas.
func (e *env) expect(want map[string]int64) {
	e.t.Helper()
	var bad []string
	for k, v := range want {
		if d := e.delta(k); d != v {
			bad = append(bad, fmt.Sprintf("%s %+d (want %+d)", k, d, v))
		}
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		e.t.Errorf("counters: %s", strings.Join(bad, ", "))
	}
}

// ignoredInOnly are counters that move with every packet and are not
// part of "only X changed" statements.
func ignoredInOnly(k string) bool {
	return strings.HasPrefix(k, "Drop.") || strings.Contains(k, "Octets") ||
		strings.Contains(k, "ECT") || strings.Contains(k, "CEPkts") || k == "IpExt.InNoECTPkts"
}

// expectOnly checks the listed deltas and that every other Ip, IpExt,
// Icmp and Udp counter is unchanged.
func (e *env) expectOnly(want map[string]int64) {
	e.t.Helper()
	e.expect(want)
	now := e.s.mib.Snapshot()
	var bad []string
	for k, v := range now {
		if _, listed := want[k]; listed || ignoredInOnly(k) {
			continue
		}
		if v != e.base[k] {
			bad = append(bad, fmt.Sprintf("%s %+d", k, int64(v)-int64(e.base[k])))
		}
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		e.t.Errorf("unexpected counter changes: %s", strings.Join(bad, ", "))
	}
}

// pkt describes a test frame. Zero fields take the checklist topology's defaults:
// from T/10.0.0.9 to M/10.0.0.5, UDP, correct checksums.
type pkt struct {
	dstMAC, srcMAC wire.MAC
	tagged         bool   // add an 802.1Q tag
	vid            uint16 // its VID
	srcZero        bool   // send from 0.0.0.0
	ttl0           bool   // send TTL 0
	ethType        uint16
	src, dst       wire.Addr
	proto          uint8
	tos, ttl       uint8
	id             uint16
	fragOff        uint16 // flags|offset field as sent
	ipOpts         []byte
	totLen         int  // override when > 0
	ihl            int  // override when > 0
	version        int  // override when > 0
	badIPCsum      bool // corrupt the header checksum
	sport, dport   uint16
	payload        []byte
	udpLen         int  // override when > 0
	udpCsum        int  // -1: compute; else the literal field value
	badUDPCsum     bool // corrupt the UDP checksum
	l4             []byte
	trailer        []byte // bytes after the IP packet (padding/garbage)
	rawIP          []byte // use these bytes as the IP packet as-is
}

// udpPkt is a UDP datagram from the tester's port 40000 to dport.
func udpPkt(dport uint16, payload []byte) pkt {
	return pkt{sport: 40000, dport: dport, payload: payload, udpCsum: -1}
}

// udpPktTo is udpPkt sent to the address dst instead of ours.
func udpPktTo(dst wire.Addr, dport uint16, payload []byte) pkt {
	p := udpPkt(dport, payload)
	p.dst = dst
	return p
}

// l4bytes builds the transport part (UDP unless l4 is set).
func (p *pkt) l4bytes(src, dst wire.Addr) []byte {
	if p.l4 != nil {
		return p.l4
	}
	u := make([]byte, 8+len(p.payload))
	ulen := len(u)
	if p.udpLen > 0 {
		ulen = p.udpLen
	}
	wire.PutUDP(u, p.sport, p.dport, ulen)
	copy(u[8:], p.payload)
	switch {
	case p.udpCsum >= 0:
		binary.BigEndian.PutUint16(u[6:], uint16(p.udpCsum))
	default:
		cov := u
		if ulen <= len(u) {
			cov = u[:ulen]
		}
		c := wire.UDPChecksum(cov, src, dst)
		if p.badUDPCsum {
			c ^= 0x5a5a
		}
		binary.BigEndian.PutUint16(u[6:], c)
	}
	return u
}

func (p *pkt) ipBytes() []byte {
	if p.rawIP != nil {
		return p.rawIP
	}
	src, dst := p.src, p.dst
	if src == 0 && dst == 0 {
		src, dst = ipT, ipM
	} else if src == 0 {
		src = ipT
	} else if dst == 0 {
		dst = ipM
	}
	if p.srcZero {
		src = 0
	}
	proto := p.proto
	if proto == 0 {
		proto = wire.ProtoUDP
	}
	l4 := p.l4bytes(src, dst)
	hl := 20 + len(p.ipOpts)
	b := make([]byte, hl+len(l4))
	ttl := p.ttl
	if ttl == 0 && !p.ttl0 {
		ttl = 64
	}
	wire.PutIPv4(b, p.tos, len(b), p.id, p.fragOff, ttl, proto, src, dst)
	copy(b[20:], p.ipOpts)
	ihl := hl / 4
	if p.ihl > 0 {
		ihl = p.ihl
	}
	ver := 4
	if p.version > 0 {
		ver = p.version
	}
	b[0] = byte(ver<<4 | ihl&15)
	if p.totLen > 0 {
		binary.BigEndian.PutUint16(b[2:], uint16(p.totLen))
	}
	copy(b[hl:], l4)
	b[10], b[11] = 0, 0
	csumLen := min(hl, ihl*4, len(b))
	c := wire.IPHeaderChecksum(b[:csumLen])
	if p.badIPCsum {
		c ^= 0x1111
	}
	binary.BigEndian.PutUint16(b[10:], c)
	return b
}

func (p *pkt) frame() []byte {
	dst, src := p.dstMAC, p.srcMAC
	if dst.IsZero() {
		dst = macM
	}
	if src.IsZero() {
		src = macT
	}
	typ := p.ethType
	if typ == 0 {
		typ = wire.EthPIP
	}
	ip := p.ipBytes()
	var f []byte
	if p.tagged {
		f = make([]byte, 18)
		wire.PutEth(f, dst, src, wire.EthP8021Q)
		binary.BigEndian.PutUint16(f[14:], p.vid)
		binary.BigEndian.PutUint16(f[16:], typ)
	} else {
		f = make([]byte, 14)
		wire.PutEth(f, dst, src, typ)
	}
	f = append(f, ip...)
	return append(f, p.trailer...)
}

// inject feeds a raw frame through Stack.Receive like the driver does.
func (e *env) inject(frame []byte) {
	e.injectMod(frame, nil)
}

func (e *env) injectMod(frame []byte, mod func(*skb.Buffer)) {
	e.t.Helper()
	b := e.frames.Get()
	if b == nil {
		e.t.Fatal("frame pool exhausted")
	}
	b.Reserve(virtioHeadroom)
	if b.Put(len(frame)) == nil {
		e.t.Fatalf("frame of %d bytes does not fit", len(frame))
	}
	copy(b.Data(), frame)
	b.Ifindex = 2
	if mod != nil {
		mod(b)
	}
	e.s.Receive(b)
}

func (e *env) send(p pkt) { e.t.Helper(); e.inject(p.frame()) }

// mustSendNothing fails if the stack transmitted anything but ARP.
func (e *env) mustSendNothing() {
	e.t.Helper()
	if fs := e.sent(); len(fs) != 0 {
		e.t.Fatalf("emitted %d frames, the first % x", len(fs), fs[0][:min(len(fs[0]), 64)])
	}
}

// sent returns the frames the stack transmitted, answering its ARP
// requests (each address gets a MAC derived from it) so that queued
// packets go out; ARP frames are not returned.
func (e *env) sent() [][]byte {
	var out [][]byte
	for round := 0; round < 4; round++ {
		fs := e.link.take()
		if len(fs) == 0 {
			break
		}
		for _, f := range fs {
			eth := wire.Eth(f)
			if eth.Type() == wire.EthPARP {
				a := wire.ARP(f[14:])
				if a.Op() == wire.ARPOpRequest && a.TPA() != a.SPA() {
					e.arpReply(a.TPA())
				}
				continue
			}
			out = append(out, f)
		}
	}
	return out
}

func macOf(a wire.Addr) wire.MAC {
	b := a.As4()
	return wire.MAC{0x02, 0xaa, b[0], b[1], b[2], b[3]}
}

// arpReply answers a request for ip.
func (e *env) arpReply(ip wire.Addr) {
	f := make([]byte, 42)
	wire.PutEth(f, macM, macOf(ip), wire.EthPARP)
	wire.PutARP(f[14:], wire.ARPOpReply, macOf(ip), ip, macM, ipM)
	e.inject(f)
}

// icmpOut parses the ICMP messages in frames.
type icmpMsg struct {
	ip   wire.IPv4
	typ  uint8
	code uint8
	rest uint32
	body []byte // after the 8-byte ICMP header
	eth  wire.Eth
}

func icmpsIn(frames [][]byte) []icmpMsg {
	var out []icmpMsg
	for _, f := range frames {
		if wire.Eth(f).Type() != wire.EthPIP {
			continue
		}
		ip := wire.IPv4(f[14:])
		if ip.Protocol() != wire.ProtoICMP {
			continue
		}
		c := f[14+ip.HeaderLen():]
		out = append(out, icmpMsg{ip: ip, typ: c[0], code: c[1], rest: binary.BigEndian.Uint32(c[4:]), body: c[8:], eth: wire.Eth(f)})
	}
	return out
}

// socket opens a UDP socket closed at cleanup.
func (e *env) socket() *socket.Socket {
	e.t.Helper()
	s, err := e.s.Socket(socket.AFInet, socket.SockDgram, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	e.socks = append(e.socks, s)
	return s
}

func sa(a wire.Addr, port uint16) *socket.Sockaddr {
	return &socket.Sockaddr{Family: socket.AFInet, Port: port, Addr: a.As4()}
}

// bound opens a socket bound to a:port with the given SOL_SOCKET options on.
func (e *env) bound(a wire.Addr, port uint16, opts ...int) *socket.Socket {
	e.t.Helper()
	s := e.socket()
	for _, o := range opts {
		if err := s.SetsockoptInt(socket.SolSocket, o, 1); err != nil {
			e.t.Fatal(err)
		}
	}
	if err := s.Bind(sa(a, port)); err != nil {
		e.t.Fatalf("bind %v:%d: %v", a, port, err)
	}
	return s
}

// recv reads one datagram without blocking.
func recvNB(t testing.TB, s *socket.Socket, n int) ([]byte, socket.Sockaddr, error) {
	t.Helper()
	buf := make([]byte, n)
	var from socket.Sockaddr
	k, err := s.RecvFrom(buf, socket.MsgDontwait, &from)
	if err != nil {
		return nil, from, err
	}
	return buf[:k], from, nil
}

func mustRecv(t testing.TB, s *socket.Socket, want []byte) {
	t.Helper()
	got, _, err := recvNB(t, s, 65536)
	if err != nil {
		t.Fatalf("recv: %v", err)
	}
	if string(got) != string(want) {
		t.Fatalf("recv %q, want %q", got, want)
	}
}

func mustEmpty(t testing.TB, s *socket.Socket) {
	t.Helper()
	if got, _, err := recvNB(t, s, 65536); err == nil {
		t.Fatalf("unexpected datagram %q", got)
	}
}

// newEnvPool is newEnv with a frame pool of n buffers.
func newEnvPool(t testing.TB, n int) *env {
	t.Helper()
	frames, err := skb.NewPool("frames", 2048, n, skb.HeapMemory)
	if err != nil {
		t.Fatal(err)
	}
	return newEnv(t, func(c *Config) { c.FramePool = frames })
}

const (
	soReuseaddr = socket.SoReuseaddr
	soReuseport = socket.SoReuseport
)

// join joins g on the interface that has ipM (ip_mreq with imr_address):
// the test stack has no default route, so INADDR_ANY finds no device.
func join(t testing.TB, s *socket.Socket, g wire.Addr) {
	if err := s.SetsockoptIPMreqn(socket.SolIP, socket.IPAddMembership, &socket.IPMreqn{Multiaddr: g.As4(), Address: ipM.As4()}); err != nil && t != nil {
		t.Fatal(err)
	}
}

// udpDatagram builds a UDP datagram (header and payload) from src to dst.
func udpDatagram(src, dst wire.Addr, sport, dport uint16, payload []byte) []byte {
	p := pkt{sport: sport, dport: dport, payload: payload, udpCsum: -1}
	return p.l4bytes(src, dst)
}

// frag builds the fragment of ipPayload at [off, off+n).
func frag(ipPayload []byte, off, n int, mf bool, id uint16) pkt {
	p := pkt{id: id, l4: ipPayload[off : off+n], fragOff: uint16(off / 8)}
	if mf {
		p.fragOff |= wire.IPFlagMF
	}
	return p
}

// bigPayload is n bytes of a position-dependent pattern, so that a
// misplaced or lost fragment changes the bytes read.
func bigPayload(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>8)
	}
	return b
}

// portUnreachQuoting builds an ICMP port unreachable from the peer
// quoting a datagram the socket sent (src lport → peer dport).
func portUnreachQuoting(lport, rport uint16, peer wire.Addr) pkt {
	orig := make([]byte, 28)
	wire.PutIPv4(orig, 0, 28+4, 1, 0, 64, wire.ProtoUDP, ipM, peer)
	wire.PutUDP(orig[20:], lport, rport, 12)
	icmp := append([]byte{3, 3, 0, 0, 0, 0, 0, 0}, orig...)
	c := wire.CsumFold(wire.Checksum(icmp, 0))
	binary.BigEndian.PutUint16(icmp[2:], c)
	return pkt{src: peer, proto: wire.ProtoICMP, l4: icmp}
}

// echoRequest builds an ICMP echo request with a correct checksum.
func echoRequest(id, seq uint16, data []byte) []byte {
	b := make([]byte, 8+len(data))
	b[0] = 8
	binary.BigEndian.PutUint16(b[4:], id)
	binary.BigEndian.PutUint16(b[6:], seq)
	copy(b[8:], data)
	binary.BigEndian.PutUint16(b[2:], wire.CsumFold(wire.Checksum(b, 0)))
	return b
}

// waitWaiters waits (in real time, without asserting any duration) until n
// goroutines sleep on s.
func waitWaiters(t testing.TB, s *socket.Socket, n int) {
	t.Helper()
	for i := 0; s.Waiters() != n; i++ {
		if i > 20000 {
			t.Fatalf("waiters %d, want %d", s.Waiters(), n)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// readAll drains each socket and returns the count per socket.
func readAll(t *testing.T, socks []*socket.Socket) []int {
	out := make([]int, len(socks))
	for i, s := range socks {
		for {
			if _, _, err := recvNB(t, s, 100); err != nil {
				break
			}
			out[i]++
		}
	}
	return out
}

// bindErr binds a new socket with the SOL_SOCKET options opts set to 1
// and returns bind's error.
func bindErr(e *env, a wire.Addr, port uint16, opts ...int) error {
	s := e.socket()
	for _, o := range opts {
		s.SetsockoptInt(socket.SolSocket, o, 1)
	}
	return s.Bind(sa(a, port))
}

// setRcvtimeo sets SO_RCVTIMEO on s to d.
func setRcvtimeo(t testing.TB, s *socket.Socket, d time.Duration) {
	t.Helper()
	tv := socket.Timeval{Sec: int64(d / time.Second), Usec: int64(d % time.Second / time.Microsecond)}
	if err := s.SetsockoptTimeval(socket.SolSocket, socket.SoRcvtimeo, tv); err != nil {
		t.Fatal(err)
	}
}

// recvResult is what a recvfrom(2) returned.
type recvResult struct {
	n    int
	data []byte
	from socket.Sockaddr
	err  error
}

// blockedRecv calls recvfrom(2) for up to n bytes on s from another
// goroutine and returns once that call sleeps on the socket; its result
// arrives on the channel.
func blockedRecv(t testing.TB, s *socket.Socket, n int) <-chan recvResult {
	t.Helper()
	waiting := s.Waiters()
	done := make(chan recvResult, 1)
	go func() {
		var r recvResult
		buf := make([]byte, n)
		r.n, r.err = s.RecvFrom(buf, 0, &r.from)
		if r.n > 0 {
			r.data = buf[:r.n]
		}
		done <- r
	}()
	waitWaiters(t, s, waiting+1)
	return done
}

// mustStayBlocked fails if the call behind done has returned by now,
// giving it a moment of real time to do so (nothing is asserted about
// how long it takes).
func mustStayBlocked(t testing.TB, done <-chan recvResult, when string) {
	t.Helper()
	select {
	case r := <-done:
		t.Fatalf("returned %s: %+v", when, r)
	case <-time.After(50 * time.Millisecond):
	}
}

// a4 returns an address's four bytes.
func a4(a wire.Addr) []byte { b := a.As4(); return b[:] }

// cat concatenates byte slices.
func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// tcpSeg builds a TCP segment from port 40000 to port 80 with a correct
// checksum.
func tcpSeg(flags byte, seq, ack uint32, payload []byte) []byte {
	th := make([]byte, 20+len(payload))
	binary.BigEndian.PutUint16(th[0:], 40000)
	binary.BigEndian.PutUint16(th[2:], 80)
	binary.BigEndian.PutUint32(th[4:], seq)
	binary.BigEndian.PutUint32(th[8:], ack)
	th[12] = 5 << 4
	th[13] = flags
	binary.BigEndian.PutUint16(th[14:], 64240)
	copy(th[20:], payload)
	binary.BigEndian.PutUint16(th[16:], wire.CsumFold(wire.Checksum(th, wire.PseudoSum(ipT, ipM, wire.ProtoTCP, len(th)))))
	return th
}

// protoUDPLite is IPPROTO_UDPLITE.
const protoUDPLite = 136

// udpliteL4 builds a UDP-Lite datagram with coverage cov (0: all) and
// its checksum over the covered bytes, with the whole length in the
// pseudo-header (RFC 3828 3.1).
func udpliteL4(cov int, payload []byte, src, dst wire.Addr) []byte {
	u := make([]byte, 8+len(payload))
	binary.BigEndian.PutUint16(u[0:], 40000)
	binary.BigEndian.PutUint16(u[2:], 9)
	binary.BigEndian.PutUint16(u[4:], uint16(cov))
	copy(u[8:], payload)
	n := cov
	if n == 0 || n > len(u) {
		n = len(u)
	}
	c := wire.CsumFold(wire.Checksum(u[:n], wire.PseudoSum(src, dst, protoUDPLite, len(u))))
	if c == 0 {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(u[6:], c)
	return u
}

// fuzzEnv is one stack reused across fuzz inputs, with sockets covering
// the interesting cases: wildcard, specific, connected, reuseport,
// multicast member.
type fuzzEnv struct {
	*env
	socks []*socket.Socket
	buf   []byte
}

func newFuzzEnv(f *testing.F) *fuzzEnv {
	e := newEnv(f)
	fe := &fuzzEnv{env: e, buf: make([]byte, 70000)}
	add := func(a wire.Addr, port uint16, opts ...int) *socket.Socket {
		s := e.bound(a, port, opts...)
		fe.socks = append(fe.socks, s)
		return s
	}
	add(0, 7000, soReuseaddr)
	add(ipM, 7000, soReuseaddr)
	c := add(0, 7001)
	c.Connect(sa(ipT, 9000))
	c.SetsockoptInt(socket.SolIP, socket.IPRecverr, 1)
	add(0, 7002, soReuseport)
	add(0, 7002, soReuseport)
	m := add(0, 5353)
	join(nil, m, wire.AddrOf(224, 0, 0, 251))
	p := add(0, 7003)
	p.SetsockoptInt(socket.SolIP, socket.IPPktinfo, 1)
	p.SetsockoptInt(socket.SolSocket, socket.SoRxqOvfl, 1)
	p.SetsockoptInt(socket.SolSocket, socket.SoRcvbuf, 0)
	return fe
}

// check drains the sockets, expires reassembly and neighbour state, and
// verifies that no buffer leaked and the counters are consistent.
func (fe *fuzzEnv) check(t *testing.T) {
	for _, s := range fe.socks {
		s.Ioctl(socket.FIONREAD)
		for {
			if _, err := s.RecvFrom(fe.buf, socket.MsgDontwait, nil); err != nil {
				break
			}
		}
	}
	fe.clk.Advance(61 * time.Second)
	fe.s.RunTimers()
	fe.sent()
	fe.s.neigh.Flush()
	fe.link.take()
	if n := fe.frames.InUse(); n != 0 {
		t.Fatalf("leak: %d frames in use", n)
	}
	if n := fe.large.InUse(); n != 0 {
		t.Fatalf("leak: %d large buffers in use", n)
	}
	if fe.frames.Stats().DoubleFree != 0 || fe.large.Stats().DoubleFree != 0 {
		t.Fatal("double free")
	}
	m := fe.s.mib
	if d, r := m.IP[6].Load(), m.IP[0].Load(); d > r {
		t.Fatalf("InDelivers %d > InReceives %d", d, r)
	}
}

// use points the environment at the current fuzz input's T, and back at
// the F afterwards.
func (fe *fuzzEnv) use(t *testing.T) func() {
	old := fe.env.t
	fe.env.t = t
	return func() { fe.env.t = old }
}

// TCP header flags.
const (
	tcpFIN = 0x01
	tcpSYN = 0x02
	tcpRST = 0x04
	tcpACK = 0x10
)
