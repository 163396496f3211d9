package arp

import (
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
