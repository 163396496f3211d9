package arp

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/kaidoku-net/kaidoku/netstack/internal/clock"
	"github.com/kaidoku-net/kaidoku/netstack/internal/ether"
	"github.com/kaidoku-net/kaidoku/netstack/internal/mib"
	"github.com/kaidoku-net/kaidoku/netstack/internal/wire"
	"github.com/kaidoku-net/kaidoku/netstack/skb"
)

var (
	ourMAC  = wire.MAC{0x52, 0x54, 0x00, 0x12, 0x34, 0x56}
	peerMAC = wire.MAC{0x02, 0, 0, 0, 0, 9}
	ourIP   = wire.AddrOf(10, 0, 0, 5)
	peerIP  = wire.AddrOf(10, 0, 0, 9)
	otherIP = wire.AddrOf(10, 0, 0, 7)
)

type link struct{ sent [][]byte }

func (l *link) Transmit(b *skb.Buffer) error {
	l.sent = append(l.sent, append([]byte(nil), b.Data()...))
	b.Free()
	return nil
}
func (l *link) MAC() [6]byte  { return ourMAC }
func (l *link) MTU() int      { return 1500 }
func (l *link) Headroom() int { return 12 }

func (l *link) take() [][]byte { s := l.sent; l.sent = nil; return s }

type rig struct {
	t    *testing.T
	tbl  *Table
	link *link
	mib  *mib.MIB
	clk  *clock.Clock
	fake *clock.Fake
	pool *skb.Pool
}

func newRig(t *testing.T, qbytes int) *rig {
	pool, err := skb.NewPool("arp", 256, 16, skb.HeapMemory)
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, link: &link{}, mib: new(mib.MIB), fake: &clock.Fake{}, pool: pool}
	r.fake.Set(int64(1000 * time.Second))
	r.clk = clock.New(r.fake.Now, true)
	dev, err := ether.NewNet(r.mib, new(sync.Mutex)).NewDevice(r.link, ether.EthIfindex, "eth0")
	if err != nil {
		t.Fatal(err)
	}
	isLocal := func(a wire.Addr) bool { return a == ourIP }
	r.tbl = New(Config{Dev: dev, MIB: r.mib, Clock: r.clk, Pool: pool,
		Addr: func() wire.Addr { return ourIP }, IsLocal: isLocal,
		RouteLocal:    func(tip, sip wire.Addr) bool { return isLocal(tip) && !isLocal(sip) },
		QueueLenBytes: qbytes})
	t.Cleanup(func() {
		r.tbl.Flush()
		if n := pool.InUse(); n != 0 {
			t.Errorf("%d buffers leaked", n)
		}
	})
	return r
}

func (r *rig) advance(d time.Duration) {
	r.fake.Advance(d)
	r.clk.Run()
}

// rcv delivers an ARP packet as the Ethernet layer would.
func (r *rig) rcv(pkt skb.PacketType, op uint16, sha wire.MAC, sip wire.Addr, tha wire.MAC, tip wire.Addr) {
	r.rcvBytes(pkt, func(p []byte) { wire.PutARP(p, op, sha, sip, tha, tip) }, wire.ARPEtherIPv4Len)
}

func (r *rig) rcvBytes(pkt skb.PacketType, fill func([]byte), n int) {
	b := r.pool.Get()
	b.Reserve(64)
	fill(b.Put(n))
	b.Network = b.DataOffset()
	b.PktType = pkt
	r.tbl.Rcv(b)
}

// arpSent parses the one ARP frame the table sent.
func (r *rig) arpSent() (wire.Eth, wire.ARP) {
	r.t.Helper()
	fs := r.link.take()
	if len(fs) != 1 {
		r.t.Fatalf("%d frames sent, want 1", len(fs))
	}
	f := fs[0]
	if wire.Eth(f).Type() != wire.EthPARP {
		r.t.Fatalf("sent EtherType %#x", wire.Eth(f).Type())
	}
	return wire.Eth(f), wire.ARP(f[wire.EthHLen:])
}

func (r *rig) state(ip wire.Addr) uint8 {
	_, s, ok := r.tbl.Lookup(ip)
	if !ok {
		return 0
	}
	return s
}

// output sends a 28-byte IPv4 packet to the next hop nh.
func (r *rig) output(nh wire.Addr) {
	b := r.pool.Get()
	b.Reserve(64)
	p := b.Put(28)
	wire.PutIPv4(p, 0, 28, 1, 0, 64, wire.ProtoUDP, ourIP, nh)
	b.Network = b.DataOffset()
	r.tbl.Output(b, nh, ourIP)
}

func TestRequestForUs(t *testing.T) {
	for _, tc := range []struct {
		name string
		pkt  skb.PacketType
		mc   bool
	}{{"broadcast", skb.PacketBroadcast, true}, {"unicast", skb.PacketHost, false}} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, 0)
			r.rcv(tc.pkt, wire.ARPOpRequest, peerMAC, peerIP, wire.MAC{}, ourIP)
			eth, a := r.arpSent()
			if eth.Dst() != peerMAC || eth.Src() != ourMAC || a.Op() != wire.ARPOpReply || a.SHA() != ourMAC ||
				a.SPA() != ourIP || a.THA() != peerMAC || a.TPA() != peerIP {
				t.Fatalf("reply %v→%v op %d %v/%v → %v/%v", eth.Src(), eth.Dst(), a.Op(), a.SHA(), a.SPA(), a.THA(), a.TPA())
			}
			if ha, st, ok := r.tbl.Lookup(peerIP); !ok || st != NudStale || ha != peerMAC {
				t.Fatalf("requester entry %v %#x %v", ha, st, ok)
			}
			mc, uc := r.tbl.Stats.RcvProbesMc.Load(), r.tbl.Stats.RcvProbesUc.Load()
			if (tc.mc && (mc != 1 || uc != 0)) || (!tc.mc && (mc != 0 || uc != 1)) || r.tbl.Stats.RepliesSent.Load() != 1 {
				t.Fatalf("probes mc %d uc %d replies %d", mc, uc, r.tbl.Stats.RepliesSent.Load())
			}
			if r.mib.Consumed.Load() != 1 {
				t.Fatal("request not consumed")
			}
		})
	}
}

func TestIgnoredAndDropped(t *testing.T) {
	for _, tc := range []struct {
		name   string
		pkt    skb.PacketType
		fill   func([]byte)
		n      int
		reason string // drop reason; "": consumed
	}{
		{"request for another host", skb.PacketBroadcast,
			func(p []byte) { wire.PutARP(p, wire.ARPOpRequest, peerMAC, peerIP, wire.MAC{}, otherIP) }, 28, ""},
		{"reply from a host not in the table", skb.PacketHost,
			func(p []byte) { wire.PutARP(p, wire.ARPOpReply, peerMAC, peerIP, ourMAC, ourIP) }, 28, ""},
		{"frame for another host", skb.PacketOtherHost,
			func(p []byte) { wire.PutARP(p, wire.ARPOpRequest, peerMAC, peerIP, wire.MAC{}, ourIP) }, 28, ""},
		{"target multicast", skb.PacketBroadcast,
			func(p []byte) {
				wire.PutARP(p, wire.ARPOpRequest, peerMAC, peerIP, wire.MAC{}, wire.AddrOf(224, 0, 0, 1))
			}, 28, ""},
		{"target loopback", skb.PacketBroadcast,
			func(p []byte) {
				wire.PutARP(p, wire.ARPOpRequest, peerMAC, peerIP, wire.MAC{}, wire.AddrOf(127, 0, 0, 1))
			}, 28, ""},
		{"not Ethernet", skb.PacketBroadcast, func(p []byte) {
			wire.PutARP(p, wire.ARPOpRequest, peerMAC, peerIP, wire.MAC{}, ourIP)
			p[1] = 7
		}, 28, ""},
		{"unknown operation", skb.PacketBroadcast, func(p []byte) {
			wire.PutARP(p, wire.ARPOpRequest, peerMAC, peerIP, wire.MAC{}, ourIP)
			p[7] = 9
		}, 28, ""},
		{"truncated", skb.PacketBroadcast,
			func(p []byte) { copy(p, []byte{0, 1, 8, 0, 6, 4, 0, 1}) }, 20, "PKT_TOO_SMALL"},
		{"hardware length 8", skb.PacketBroadcast, func(p []byte) {
			wire.PutARP(p, wire.ARPOpRequest, peerMAC, peerIP, wire.MAC{}, ourIP)
			p[4] = 8
		}, 28, "NOT_SPECIFIED"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, 0)
			r.rcvBytes(tc.pkt, tc.fill, tc.n)
			if fs := r.link.take(); len(fs) != 0 {
				t.Fatalf("%d frames sent", len(fs))
			}
			if _, _, ok := r.tbl.Lookup(peerIP); ok {
				t.Fatal("entry created")
			}
			if tc.reason == "" {
				if r.mib.Consumed.Load() != 1 {
					t.Fatal("not consumed")
				}
				return
			}
			if v, _ := r.mib.Value("Drop." + tc.reason); v != 1 {
				t.Fatalf("Drop.%s = %d", tc.reason, v)
			}
		})
	}
}

// RFC 2131 duplicate address detection: a probe from 0.0.0.0 for our
// address is answered to its sender's hardware address.
func TestDuplicateAddressProbe(t *testing.T) {
	r := newRig(t, 0)
	r.rcv(skb.PacketBroadcast, wire.ARPOpRequest, peerMAC, 0, wire.MAC{}, ourIP)
	eth, a := r.arpSent()
	if eth.Dst() != peerMAC || a.Op() != wire.ARPOpReply || a.SPA() != ourIP || a.TPA() != 0 || a.THA() != peerMAC {
		t.Fatalf("reply to %v: %v/%v → %v/%v", eth.Dst(), a.SHA(), a.SPA(), a.THA(), a.TPA())
	}
	if _, _, ok := r.tbl.Lookup(0); ok {
		t.Fatal("0.0.0.0 learned")
	}
	r.rcv(skb.PacketBroadcast, wire.ARPOpRequest, peerMAC, 0, wire.MAC{}, otherIP)
	if fs := r.link.take(); len(fs) != 0 {
		t.Fatal("answered a probe for another address")
	}
}

func TestResolveThenSend(t *testing.T) {
	r := newRig(t, 0)
	r.output(peerIP)
	eth, a := r.arpSent()
	if eth.Dst() != wire.BroadcastMAC || a.Op() != wire.ARPOpRequest || a.SPA() != ourIP || a.TPA() != peerIP || a.SHA() != ourMAC {
		t.Fatalf("request %v: %v/%v → %v", eth.Dst(), a.SHA(), a.SPA(), a.TPA())
	}
	if r.state(peerIP) != NudIncomplete || r.tbl.Queued(peerIP) != 1 {
		t.Fatalf("state %#x queued %d", r.state(peerIP), r.tbl.Queued(peerIP))
	}
	r.output(peerIP) // queued behind the first, no second request
	if fs := r.link.take(); len(fs) != 0 || r.tbl.Queued(peerIP) != 2 {
		t.Fatalf("%d frames, %d queued", len(fs), r.tbl.Queued(peerIP))
	}
	r.rcv(skb.PacketHost, wire.ARPOpReply, peerMAC, peerIP, ourMAC, ourIP)
	fs := r.link.take()
	if len(fs) != 2 || r.state(peerIP) != NudReachable || r.tbl.Queued(peerIP) != 0 {
		t.Fatalf("%d frames, state %#x", len(fs), r.state(peerIP))
	}
	for _, f := range fs {
		if e := wire.Eth(f); e.Dst() != peerMAC || e.Type() != wire.EthPIP || wire.IPv4(f[14:]).Dst() != peerIP {
			t.Fatalf("sent % x", f[:34])
		}
	}
	// Resolved: the next packet goes straight out.
	r.output(peerIP)
	if fs := r.link.take(); len(fs) != 1 || r.tbl.Stats.Hits.Load() != 1 {
		t.Fatalf("%d frames, %d hits", len(fs), r.tbl.Stats.Hits.Load())
	}
}

func TestResolutionFails(t *testing.T) {
	r := newRig(t, 0)
	r.output(peerIP)
	r.arpSent()
	for i := 0; i < McastSolicit-1; i++ {
		r.advance(time.Second)
		if eth, a := r.arpSent(); eth.Dst() != wire.BroadcastMAC || a.TPA() != peerIP {
			t.Fatalf("retry %d to %v", i, eth.Dst())
		}
	}
	r.advance(time.Second)
	if fs := r.link.take(); len(fs) != 0 {
		t.Fatalf("%d more frames", len(fs))
	}
	if _, _, ok := r.tbl.Lookup(peerIP); ok || r.tbl.Stats.ResFailed.Load() != 1 {
		t.Fatalf("entry kept, res_failed %d", r.tbl.Stats.ResFailed.Load())
	}
	if r.mib.Drops[mib.DropNeighFailed].Load() != 1 {
		t.Fatal("queued packet not dropped as NEIGH_FAILED")
	}
}

func TestQueueBoundDropsOldest(t *testing.T) {
	r := newRig(t, 1)
	r.output(peerIP)
	r.arpSent()
	r.output(peerIP)
	r.output(peerIP)
	if q := r.tbl.Queued(peerIP); q != 1 {
		t.Fatalf("%d queued", q)
	}
	if r.tbl.Stats.UnresDiscards.Load() != 2 || r.mib.Drops[mib.DropNeighQueueFull].Load() != 2 {
		t.Fatalf("unres_discards %d", r.tbl.Stats.UnresDiscards.Load())
	}
}

// REACHABLE ages to STALE; using a STALE entry moves it to DELAY, and
// without confirmation to PROBE, which sends unicast probes and then
// fails.
func TestNUDStateMachine(t *testing.T) {
	r := newRig(t, 0)
	r.output(peerIP)
	r.arpSent()
	r.rcv(skb.PacketHost, wire.ARPOpReply, peerMAC, peerIP, ourMAC, ourIP)
	r.link.take()
	// reachable_time is 15 s with no random source; the entry was used
	// when queued, longer ago than delay_first_probe_time by then.
	r.advance(15 * time.Second)
	if s := r.state(peerIP); s != NudStale {
		t.Fatalf("state %#x after reachable_time, want STALE", s)
	}
	r.output(peerIP)
	r.link.take()
	if s := r.state(peerIP); s != NudDelay {
		t.Fatalf("state %#x after use, want DELAY", s)
	}
	r.advance(5 * time.Second)
	if s := r.state(peerIP); s != NudProbe {
		t.Fatalf("state %#x after delay, want PROBE", s)
	}
	if eth, a := r.arpSent(); eth.Dst() != peerMAC || a.Op() != wire.ARPOpRequest || a.TPA() != peerIP {
		t.Fatalf("probe to %v", eth.Dst())
	}
	for i := 1; i < UcastSolicit; i++ {
		r.advance(time.Second)
		if eth, _ := r.arpSent(); eth.Dst() != peerMAC {
			t.Fatalf("probe %d to %v", i, eth.Dst())
		}
	}
	r.advance(time.Second)
	if _, _, ok := r.tbl.Lookup(peerIP); ok {
		t.Fatal("entry survives unanswered probes")
	}
}

func TestAnnounce(t *testing.T) {
	r := newRig(t, 0)
	r.tbl.Announce(ourIP)
	eth, a := r.arpSent()
	if eth.Dst() != wire.BroadcastMAC || a.Op() != wire.ARPOpRequest || a.SPA() != ourIP || a.TPA() != ourIP ||
		a.THA() != (wire.MAC{}) {
		t.Fatalf("announcement %v: %v → %v", eth.Dst(), a.SPA(), a.TPA())
	}
}

// arp_process on an existing entry: a unicast reply confirms it
// (REACHABLE); a broadcast reply or any other ARP packet from the host
// only makes it STALE, and that only when it was unresolved or the
// address changed. Whatever the new state, packets waiting for the
// address go out to it.
func TestArpProcessUpdatesEntry(t *testing.T) {
	newMAC := wire.MAC{0x02, 0, 0, 0, 0, 0x42}
	for _, tc := range []struct {
		name  string
		from  uint8 // NudIncomplete (one packet queued), NudStale or NudReachable
		pkt   skb.PacketType
		op    uint16
		sha   wire.MAC
		tip   wire.Addr
		state uint8
		sent  int
	}{
		{"incomplete, unicast reply", NudIncomplete, skb.PacketHost, wire.ARPOpReply, peerMAC, ourIP, NudReachable, 1},
		{"incomplete, broadcast reply", NudIncomplete, skb.PacketBroadcast, wire.ARPOpReply, peerMAC, ourIP, NudStale, 1},
		{"incomplete, request for another host", NudIncomplete, skb.PacketBroadcast, wire.ARPOpRequest, peerMAC, otherIP, NudStale, 1},
		{"stale, unicast reply", NudStale, skb.PacketHost, wire.ARPOpReply, peerMAC, ourIP, NudReachable, 0},
		{"stale, request for another host", NudStale, skb.PacketBroadcast, wire.ARPOpRequest, peerMAC, otherIP, NudStale, 0},
		{"reachable, broadcast reply", NudReachable, skb.PacketBroadcast, wire.ARPOpReply, peerMAC, ourIP, NudReachable, 0},
		{"reachable, broadcast reply, new address", NudReachable, skb.PacketBroadcast, wire.ARPOpReply, newMAC, ourIP, NudStale, 0},
		{"reachable, unicast reply, new address", NudReachable, skb.PacketHost, wire.ARPOpReply, newMAC, ourIP, NudReachable, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, 0)
			switch tc.from {
			case NudIncomplete, NudReachable:
				r.output(peerIP)
				r.arpSent()
				if tc.from == NudReachable {
					r.rcv(skb.PacketHost, wire.ARPOpReply, peerMAC, peerIP, ourMAC, ourIP)
				}
			case NudStale:
				r.rcv(skb.PacketBroadcast, wire.ARPOpRequest, peerMAC, peerIP, wire.MAC{}, ourIP)
			}
			r.link.take()
			if s := r.state(peerIP); s != tc.from {
				t.Fatalf("setup: state %#x, want %#x", s, tc.from)
			}
			r.rcv(tc.pkt, tc.op, tc.sha, peerIP, ourMAC, tc.tip)
			ha, st, ok := r.tbl.Lookup(peerIP)
			if !ok || st != tc.state || ha != tc.sha {
				t.Fatalf("entry %v %#x %v, want %v %#x", ha, st, ok, tc.sha, tc.state)
			}
			fs := r.link.take()
			if len(fs) != tc.sent || r.tbl.Queued(peerIP) != 0 {
				t.Fatalf("%d frames sent, %d still queued; want %d sent", len(fs), r.tbl.Queued(peerIP), tc.sent)
			}
			for _, f := range fs {
				if e := wire.Eth(f); e.Dst() != tc.sha || e.Type() != wire.EthPIP {
					t.Fatalf("queued packet sent to %v type %#x", e.Dst(), e.Type())
				}
			}
		})
	}
}

// __neigh_event_send bounds an unresolved entry's queue by the truesize
// of what it holds (unres_qlen_bytes): each packet that would pass the
// bound pushes out the oldest, counted in UnresDiscards and freed with
// NEIGH_QUEUEFULL, but the newest packet is always queued. When the
// reply comes the survivors go out in order.
func TestPendingQueueLimit(t *testing.T) {
	probe, err := skb.NewPool("probe", 256, 1, skb.HeapMemory)
	if err != nil {
		t.Fatal(err)
	}
	b := probe.Get()
	ts := b.Truesize
	b.Free()
	const sent = 6
	for _, tc := range []struct {
		qbytes int
		kept   int
	}{
		{ts / 2, 1},
		{ts, 1},
		{2*ts - 1, 1},
		{2 * ts, 2},
		{5*ts + 1, 5},
		{sent * ts, sent},
	} {
		t.Run(fmt.Sprint(tc.qbytes), func(t *testing.T) {
			r := newRig(t, tc.qbytes)
			for id := uint16(1); id <= sent; id++ {
				b := r.pool.Get()
				b.Reserve(64)
				wire.PutIPv4(b.Put(28), 0, 28, id, 0, 64, wire.ProtoUDP, ourIP, peerIP)
				b.Network = b.DataOffset()
				if err := r.tbl.Output(b, peerIP, ourIP); err != nil {
					t.Fatal(err)
				}
			}
			r.arpSent()
			dropped := uint64(sent - tc.kept)
			if q := r.tbl.Queued(peerIP); q != tc.kept {
				t.Fatalf("%d queued, want %d", q, tc.kept)
			}
			if d, qf := r.tbl.Stats.UnresDiscards.Load(), r.mib.Drops[mib.DropNeighQueueFull].Load(); d != dropped || qf != dropped {
				t.Fatalf("unres_discards %d, NEIGH_QUEUEFULL %d, want %d", d, qf, dropped)
			}
			if n := r.pool.InUse(); n != tc.kept {
				t.Fatalf("%d buffers held, want %d", n, tc.kept)
			}
			r.rcv(skb.PacketHost, wire.ARPOpReply, peerMAC, peerIP, ourMAC, ourIP)
			fs := r.link.take()
			if len(fs) != tc.kept {
				t.Fatalf("%d sent after resolution, want %d", len(fs), tc.kept)
			}
			for i, f := range fs {
				if id, want := wire.IPv4(f[wire.EthHLen:]).ID(), uint16(sent-tc.kept+1+i); id != want {
					t.Fatalf("frame %d is packet %d, want %d", i, id, want)
				}
			}
		})
	}
}
