package ipv4

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

// Vectors computed with an independent C implementation of
// include/linux/jhash.h (jhash_1word, jhash_3words).
func TestJhashVectors(t *testing.T) {
	for _, v := range [][3]uint32{
		{0, 0, 0x49396b8},
		{0x1, 0, 0x72a82a9b},
		{0x500000a, 0, 0x932e33c6},
		{0x500000a, 0x12345678, 0xb2969bf2},
		{0xffffffff, 0xffffffff, 0xeae46760},
		{0x100007f, 0xdeadbeef, 0x2489f292},
	} {
		if got := Jhash1Word(v[0], v[1]); got != v[2] {
			t.Errorf("jhash_1word(%#x, %#x) = %#x, want %#x", v[0], v[1], got, v[2])
		}
	}
	if got := Jhash3Words(0x0500000a, 0x0900000a, 7000<<16|0x409c, 0x1234); got != 0x9efac7af {
		t.Errorf("jhash_3words = %#x", got)
	}
	if got := Jhash3Words(0, 0, 0, 0); got != 0x1b68e557 {
		t.Errorf("jhash_3words(0) = %#x", got)
	}
	// ipv4_portaddr_hash feeds the raw __be32: 10.0.0.5 is 0x0500000a.
	if got := PortaddrHash(0x12345678, wire.AddrOf(10, 0, 0, 5), 7000); got != 0xb2969bf2^7000 {
		t.Errorf("ipv4_portaddr_hash = %#x", got)
	}
}

func testIP(rnd func() uint32) (*IPv4, *clock.Fake) {
	f := &clock.Fake{}
	f.Set(int64(1000 * time.Second))
	ip := &IPv4{Sysctl: NewSysctl(), clk: clock.New(f.Now, true), cfg: Config{Rand: rnd, PrefixLen: 24}}
	ip.peers.init()
	ip.addr = wire.AddrOf(10, 0, 0, 5)
	ip.mask = 0xffffff00
	ip.bcast = wire.AddrOf(10, 0, 0, 255)
	ip.net = ether.NewNet(new(mib.MIB), new(sync.Mutex))
	ip.dev, _ = ip.net.NewDevice(nullLink{}, ether.EthIfindex, "eth0")
	ip.fibSetup()
	ip.mc = map[int]map[wire.Addr]int{1: {wire.AddrOf(224, 0, 0, 1): 1}, 2: {wire.AddrOf(224, 0, 0, 1): 1}}
	return ip, f
}

// nullLink is a Link that discards what it is given.
type nullLink struct{}

func (nullLink) Transmit(b *skb.Buffer) error { b.Free(); return nil }
func (nullLink) MAC() [6]byte                 { return [6]byte{2, 0, 0, 0, 0, 5} }
func (nullLink) MTU() int                     { return 1500 }
func (nullLink) Headroom() int                { return 0 }

func TestIcmpGlobalAllow(t *testing.T) {
	for _, c := range []struct {
		name    string
		r       uint32 // fake random: consumption = r*3>>32
		initial int    // messages allowed from a full bucket
	}{
		{"consume0", 0, -1},
		{"consume1", 0x60000000, 50},
		{"consume2", 0xffffffff, 25},
	} {
		t.Run(c.name, func(t *testing.T) {
			ip, f := testIP(func() uint32 { return c.r })
			n := 0
			for i := 0; i < 200 && ip.icmpGlobalAllow(); i++ {
				n++
			}
			if c.initial < 0 {
				if n != 200 {
					t.Fatalf("zero consumption allowed %d", n)
				}
				return
			}
			if n != c.initial {
				t.Fatalf("allowed %d from a full bucket, want %d", n, c.initial)
			}
			// Empty bucket, less than HZ/50 later: refused on the fast path.
			f.Advance(19 * time.Millisecond)
			if ip.icmpGlobalAllow() {
				t.Fatal("allowed before 20 ms")
			}
			// 20 ms later: 20 credits.
			f.Advance(1 * time.Millisecond)
			n = 0
			for ip.icmpGlobalAllow() {
				n++
			}
			if want := map[string]int{"consume1": 20, "consume2": 10}[c.name]; n != want {
				t.Fatalf("after refill allowed %d, want %d", n, want)
			}
			// A long pause refills to the burst only (delta capped at HZ).
			f.Advance(10 * time.Second)
			n = 0
			for ip.icmpGlobalAllow() {
				n++
			}
			if n != c.initial {
				t.Fatalf("after pause allowed %d", n)
			}
		})
	}
}

func TestInetPeerXrlimAllow(t *testing.T) {
	ip, f := testIP(nil)
	p := ip.inetGetpeer(wire.AddrOf(10, 0, 0, 9))
	n := 0
	for i := 0; i < 20; i++ {
		if inetPeerXrlimAllow(p, 1000, ip.clk.Jiffies()) {
			n++
		}
	}
	if n != 6 {
		t.Fatalf("burst %d, want 6", n)
	}
	f.Advance(999 * time.Millisecond)
	if inetPeerXrlimAllow(p, 1000, ip.clk.Jiffies()) {
		t.Fatal("allowed before 1 s")
	}
	f.Advance(1 * time.Millisecond)
	if !inetPeerXrlimAllow(p, 1000, ip.clk.Jiffies()) {
		t.Fatal("refused after 1 s")
	}
	if !inetPeerXrlimAllow(nil, 1000, 0) {
		t.Fatal("nil peer refused")
	}
}

func TestIcmpMaskAllow(t *testing.T) {
	ip, _ := testIP(nil)
	for typ := 0; typ < 45; typ++ {
		limited := typ == 3 || typ == 4 || typ == 11 || typ == 12
		if got := !ip.icmpv4MaskAllow(uint8(typ), 0); got != limited {
			t.Errorf("type %d limited=%v", typ, got)
		}
	}
	if !ip.icmpv4MaskAllow(3, 4) {
		t.Error("frag-needed limited")
	}
}

func TestIPOptionsCompile(t *testing.T) {
	ip, _ := testIP(nil)
	for _, c := range []struct {
		name string
		opts []byte
		bad  bool
		ptr  byte
		srr  bool
	}{
		{"nops", []byte{1, 1, 1, 1}, false, 0, false},
		{"eol-then-junk", []byte{0, 5, 6, 7}, false, 0, false},
		{"unknown", []byte{0x9e, 4, 0, 0}, false, 0, false},
		{"len1", []byte{0x9e, 1, 0, 0}, true, 20, false},
		{"len0", []byte{0x9e, 0, 0, 0}, true, 20, false},
		{"lenTooBig", []byte{7, 8, 4, 0}, true, 20, false},
		{"single-byte-at-end", []byte{1, 1, 1, 7}, true, 23, false},
		{"rr-ptr-small", []byte{7, 7, 3, 0, 0, 0, 0, 0}, true, 22, false},
		{"rr-ok", []byte{7, 7, 4, 0, 0, 0, 0, 0}, false, 0, false},
		{"rr-full", []byte{7, 7, 8, 0, 0, 0, 0, 0}, false, 0, false},
		{"rr-ptr-overflow", []byte{7, 7, 6, 0, 0, 0, 0, 0}, true, 22, false},
		{"two-rr", []byte{7, 3, 4, 7, 3, 4, 1, 1}, true, 23, false},
		{"lsrr", []byte{131, 7, 4, 1, 2, 3, 4, 0}, false, 0, true},
		{"lsrr-short", []byte{131, 2, 0, 0}, true, 21, false},
		{"lsrr-ptr", []byte{131, 7, 3, 1, 2, 3, 4, 0}, true, 22, false},
		{"two-srr", []byte{131, 3, 4, 137, 3, 4, 0, 0}, true, 23, false},
		{"ts-short", []byte{68, 3, 5, 0}, true, 21, false},
		{"ts-ptr", []byte{68, 8, 4, 0, 0, 0, 0, 0}, true, 22, false},
		{"ts-ok", []byte{68, 8, 5, 0, 0, 0, 0, 0}, false, 0, false},
		{"ts-overflow", []byte{68, 4, 5, 0xf0}, true, 23, false},
		{"ra-short", []byte{148, 3, 0, 0}, true, 21, false},
		{"ra", []byte{148, 4, 0, 0}, false, 0, false},
		{"cipso-short", []byte{134, 6, 0, 0, 0, 0, 0, 0}, true, 21, false},
		{"cipso-no-doi", []byte{134, 8, 0, 0, 0, 1, 0, 0}, true, 22, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := make([]byte, 20+len(c.opts))
			copy(h[20:], c.opts)
			opt := skb.IPOptions{Optlen: uint8(len(c.opts))}
			info, bad := ip.ipOptionsCompile(h, &opt, nil)
			if bad != c.bad || (bad && byte(info>>24) != c.ptr) {
				t.Fatalf("bad=%v ptr=%d, want %v %d", bad, info>>24, c.bad, c.ptr)
			}
			if !bad && (opt.SRR != 0) != c.srr {
				t.Fatalf("srr %d", opt.SRR)
			}
		})
	}
}

func TestFragEcnTable(t *testing.T) {
	const notECT, ect1, ect0, ce = 1, 2, 4, 8
	for _, c := range []struct {
		in  uint8
		out uint8
		ok  bool
	}{
		{notECT, 0, true}, {ect0, 0, true}, {ect0 | ect1, 0, true}, {ce, 0, true},
		{ce | ect0, wire.ECNCE, true}, {ce | ect1, wire.ECNCE, true},
		{notECT | ect0, 0, false}, {notECT | ce, 0, false}, {notECT | ect1 | ce, 0, false},
	} {
		out, ok := ipFragEcnTable(c.in)
		if out != c.out || ok != c.ok {
			t.Errorf("%#x -> %#x %v", c.in, out, ok)
		}
	}
}

func TestInetAddrType(t *testing.T) {
	ip, _ := testIP(nil)
	for a, want := range map[wire.Addr]int{
		wire.AddrOf(10, 0, 0, 5):        RtnLocal,
		wire.AddrOf(127, 0, 0, 1):       RtnLocal,
		wire.AddrOf(10, 0, 0, 255):      RtnBroadcast,
		wire.AddrOf(255, 255, 255, 255): RtnBroadcast,
		wire.AddrOf(0, 1, 2, 3):         RtnUnicast,
		wire.AddrOf(224, 0, 0, 1):       RtnMulticast,
		wire.AddrOf(10, 0, 0, 0):        RtnUnicast,
		wire.AddrOf(10, 0, 0, 77):       RtnUnicast,
		wire.AddrOf(8, 8, 8, 8):         RtnUnicast,
	} {
		if got := ip.InetAddrType(a); got != want {
			t.Errorf("%v: %d, want %d", a, got, want)
		}
	}
}
