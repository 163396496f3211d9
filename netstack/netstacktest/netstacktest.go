// Package netstacktest builds a host stack for tests of the programs that
// run on it (the test agent, the stats service): a link that discards
// what the stack sends, QEMU user networking's addresses, manual timers,
// and frames handed in as the driver would.
package netstacktest

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/kaidoku-net/kaidoku/netstack"
	"github.com/kaidoku-net/kaidoku/netstack/internal/wire"
	"github.com/kaidoku-net/kaidoku/netstack/skb"
)

// NullLink is a link that frees every frame it is given, so nothing the
// stack sends is ever answered (ARP included).
type NullLink struct{}

// Transmit frees b.
func (NullLink) Transmit(b *skb.Buffer) error { b.Free(); return nil }

// MAC is the stack's address, 02:00:00:00:00:01.
func (NullLink) MAC() [6]byte { return [6]byte{2, 0, 0, 0, 0, 1} }

// MTU is Ethernet's.
func (NullLink) MTU() int { return 1500 }

// Headroom is the virtio-net header's.
func (NullLink) Headroom() int { return 12 }

// New returns a stack at 10.0.2.15/24 via 10.0.2.2 on a NullLink, with
// manual timers, and its frame pool of frames buffers.
func New(t testing.TB, frames int) (*netstack.Stack, *skb.Pool) {
	t.Helper()
	pool, err := skb.NewPool("frames", 2048, frames, skb.HeapMemory)
	if err != nil {
		t.Fatal(err)
	}
	st, err := netstack.New(netstack.Config{Link: NullLink{}, FramePool: pool,
		Addr: [4]byte{10, 0, 2, 15}, PrefixLen: 24, Gateway: [4]byte{10, 0, 2, 2}, ManualTimers: true})
	if err != nil {
		t.Fatal(err)
	}
	return st, pool
}

// InjectUDP hands st a UDP datagram from src:4000 to its port dstPort,
// as the driver would.
func InjectUDP(t testing.TB, st *netstack.Stack, pool *skb.Pool, src netip.Addr, dstPort uint16, payload []byte) {
	t.Helper()
	b := pool.Get()
	if b == nil {
		t.Fatal("frame pool empty")
	}
	f := b.Put(14 + 20 + 8 + len(payload))
	copy(f[0:6], []byte{2, 0, 0, 0, 0, 1})
	copy(f[6:12], []byte{2, 0, 0, 0, 0, 9})
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	s := src.As4()
	wire.PutIPv4(f[14:], 0, 20+8+len(payload), 1, 0, 64, wire.ProtoUDP, wire.AddrOf(s[0], s[1], s[2], s[3]), wire.AddrOf(10, 0, 2, 15))
	wire.PutUDP(f[34:], 4000, dstPort, 8+len(payload))
	copy(f[42:], payload)
	st.Receive(b)
}
