package ether

import (
	"bytes"
	"encoding/binary"
	"errors"
	"sync"
	"testing"

	"github.com/kaidoku-net/kaidoku/netstack/internal/mib"
	"github.com/kaidoku-net/kaidoku/netstack/internal/wire"
	"github.com/kaidoku-net/kaidoku/netstack/skb"
)

var (
	ourMAC  = wire.MAC{0x52, 0x54, 0x00, 0x12, 0x34, 0x56}
	peerMAC = wire.MAC{0x02, 0, 0, 0, 0, 9}
)

// testLink records what the device transmits.
type testLink struct {
	sent [][]byte
	fail bool
}

func (l *testLink) Transmit(b *skb.Buffer) error {
	defer b.Free()
	if l.fail {
		return errors.New("ring full")
	}
	l.sent = append(l.sent, append([]byte(nil), b.Data()...))
	return nil
}
func (l *testLink) MAC() [6]byte  { return ourMAC }
func (l *testLink) MTU() int      { return 1500 }
func (l *testLink) Headroom() int { return 12 }

// seen is what a handler was given.
type seen struct {
	pkt     skb.PacketType
	proto   uint16
	payload []byte
	netOff  bool // b.Network is at b.Data()
	ifindex int
}

type rig struct {
	t    *testing.T
	dev  *Device
	link *testLink
	mib  *mib.MIB
	pool *skb.Pool
	got  []seen
}

func newRig(t *testing.T) *rig {
	pool, err := skb.NewPool("ether", 256, 8, skb.HeapMemory)
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, link: &testLink{}, mib: new(mib.MIB), pool: pool}
	dev, err := NewNet(r.mib, new(sync.Mutex)).NewDevice(r.link, EthIfindex, "eth0")
	if err != nil {
		t.Fatal(err)
	}
	r.dev = dev
	h := func(b *skb.Buffer) {
		r.got = append(r.got, seen{b.PktType, b.Protocol, append([]byte(nil), b.Data()...),
			b.Network == b.DataOffset(), b.Ifindex})
		b.Free()
	}
	r.dev.AddPack(wire.EthPIP, h)
	r.dev.AddPack(wire.EthP8023, h)
	r.dev.AddPack(wire.EthP8022, h)
	t.Cleanup(func() {
		if n := pool.InUse(); n != 0 {
			t.Errorf("%d buffers leaked", n)
		}
	})
	return r
}

func (r *rig) receive(frame []byte) {
	b := r.pool.Get()
	b.Reserve(12)
	copy(b.Put(len(frame)), frame)
	r.dev.Receive(b)
}

func frame(dst wire.MAC, typ uint16, payload ...byte) []byte {
	f := make([]byte, 14, 14+len(payload))
	wire.PutEth(f, dst, peerMAC, typ)
	return append(f, payload...)
}

// tagged inserts an 802.1Q (or tpid) tag with tci after the addresses.
func tagged(dst wire.MAC, tpid, tci, typ uint16, payload ...byte) []byte {
	f := make([]byte, 18, 18+len(payload))
	wire.PutEth(f, dst, peerMAC, tpid)
	binary.BigEndian.PutUint16(f[14:], tci)
	binary.BigEndian.PutUint16(f[16:], typ)
	return append(f, payload...)
}

func TestEthTypeTrans(t *testing.T) {
	ip := []byte{0x45, 0, 0, 20}
	tests := []struct {
		name    string
		frame   []byte
		pkt     skb.PacketType
		proto   uint16
		payload []byte
	}{
		{"to us", frame(ourMAC, wire.EthPIP, ip...), skb.PacketHost, wire.EthPIP, ip},
		{"broadcast", frame(wire.BroadcastMAC, wire.EthPIP, ip...), skb.PacketBroadcast, wire.EthPIP, ip},
		{"multicast", frame(wire.MulticastMAC(wire.AddrOf(224, 0, 0, 1)), wire.EthPIP, ip...), skb.PacketMulticast, wire.EthPIP, ip},
		{"someone else", frame(peerMAC, wire.EthPIP, ip...), skb.PacketOtherHost, wire.EthPIP, ip},
		{"802.3 length, raw IPX", frame(ourMAC, 4, 0xff, 0xff, 0, 4), skb.PacketHost, wire.EthP8023, []byte{0xff, 0xff, 0, 4}},
		{"802.3 length, LLC", frame(ourMAC, 4, 0xaa, 0xaa, 3, 0), skb.PacketHost, wire.EthP8022, []byte{0xaa, 0xaa, 3, 0}},
		{"802.3 length, one byte", frame(ourMAC, 1, 0xff), skb.PacketHost, wire.EthP8022, []byte{0xff}},
		{"priority tag", tagged(ourMAC, wire.EthP8021Q, 0x6000, wire.EthPIP, ip...), skb.PacketHost, wire.EthPIP, ip},
		{"VLAN 100", tagged(ourMAC, wire.EthP8021Q, 100, wire.EthPIP, ip...), skb.PacketOtherHost, wire.EthPIP, ip},
		{"802.1ad VLAN 7", tagged(ourMAC, wire.EthP8021AD, 7, wire.EthPIP, ip...), skb.PacketOtherHost, wire.EthPIP, ip},
		{"priority tag over VLAN 5", tagged(ourMAC, wire.EthP8021Q, 0, wire.EthP8021Q, 0, 5, 0x08, 0, 0x45, 0, 0, 20),
			skb.PacketOtherHost, wire.EthPIP, ip},
		{"priority tag over a priority tag", tagged(ourMAC, wire.EthP8021Q, 0, wire.EthP8021Q, 0x20, 0, 0x08, 0, 0x45, 0, 0, 20),
			skb.PacketHost, wire.EthPIP, ip},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t)
			r.receive(tc.frame)
			if len(r.got) != 1 {
				t.Fatalf("%d deliveries", len(r.got))
			}
			g := r.got[0]
			if g.pkt != tc.pkt || g.proto != tc.proto || !bytes.Equal(g.payload, tc.payload) || !g.netOff || g.ifindex != EthIfindex {
				t.Fatalf("got %+v", g)
			}
			if r.dev.Stats.RxPackets.Load() != 1 || r.dev.Stats.RxBytes.Load() != uint64(len(tc.frame)) {
				t.Fatalf("rx %d packets %d bytes", r.dev.Stats.RxPackets.Load(), r.dev.Stats.RxBytes.Load())
			}
			if r.mib.Softnet.Processed.Load() != 1 {
				t.Fatal("softnet processed not counted")
			}
		})
	}
}

func TestReceiveDrops(t *testing.T) {
	t.Run("shorter than a header", func(t *testing.T) {
		r := newRig(t)
		r.receive(make([]byte, 13))
		if len(r.got) != 0 || r.dev.Stats.RxLengthErrors.Load() != 1 || r.mib.Drops[mib.DropPktTooSmall].Load() != 1 {
			t.Fatalf("length errors %d", r.dev.Stats.RxLengthErrors.Load())
		}
	})
	t.Run("tag cut short", func(t *testing.T) {
		r := newRig(t)
		r.receive(frame(ourMAC, wire.EthP8021Q, 0, 1))
		if len(r.got) != 0 || r.mib.Drops[mib.DropNotSpecified].Load() != 1 {
			t.Fatalf("%d deliveries", len(r.got))
		}
	})
	t.Run("unknown EtherType", func(t *testing.T) {
		r := newRig(t)
		r.receive(frame(ourMAC, 0x88b5, 1, 2, 3))
		if r.dev.Stats.RxDropped.Load() != 1 || r.mib.Drops[mib.DropUnhandledProto].Load() != 1 || r.mib.Consumed.Load() != 0 {
			t.Fatalf("rx_dropped %d", r.dev.Stats.RxDropped.Load())
		}
	})
	t.Run("unknown EtherType with a tap", func(t *testing.T) {
		r := newRig(t)
		var taps [][]byte
		remove := r.dev.AddTap(func(f []byte, tx bool) {
			if tx {
				t.Error("received frame tapped as transmitted")
			}
			taps = append(taps, append([]byte(nil), f...))
		})
		f := frame(ourMAC, 0x88b5, 1, 2, 3)
		r.receive(f)
		if r.dev.Stats.RxDropped.Load() != 0 || r.mib.Consumed.Load() != 1 || len(taps) != 1 || !bytes.Equal(taps[0], f) {
			t.Fatalf("rx_dropped %d consumed %d taps %d", r.dev.Stats.RxDropped.Load(), r.mib.Consumed.Load(), len(taps))
		}
		remove()
		r.receive(f)
		if len(taps) != 1 || r.dev.Stats.RxDropped.Load() != 1 {
			t.Fatalf("tap still called after removal (%d) or frame not dropped", len(taps))
		}
	})
}

// A tap sees the frame as it arrived, tag included (what libpcap shows
// on Linux, which puts the tag back from the packet's metadata), while
// the handler gets the untagged payload.
func TestTapSeesTheTaggedFrame(t *testing.T) {
	r := newRig(t)
	var taps [][]byte
	r.dev.AddTap(func(f []byte, tx bool) { taps = append(taps, append([]byte(nil), f...)) })
	f := tagged(ourMAC, wire.EthP8021Q, 0, wire.EthPIP, 0x45, 0, 0, 20)
	r.receive(f)
	if len(taps) != 1 || len(r.got) != 1 {
		t.Fatalf("%d taps, %d deliveries", len(taps), len(r.got))
	}
	if !bytes.Equal(taps[0], f) {
		t.Fatalf("tap saw % x, want % x", taps[0], f)
	}
	if !bytes.Equal(r.got[0].payload, f[18:]) {
		t.Fatalf("handler got % x", r.got[0].payload)
	}
}

func TestXmit(t *testing.T) {
	r := newRig(t)
	var tx []bool
	r.dev.AddTap(func(f []byte, isTx bool) { tx = append(tx, isTx) })
	send := func(n int) error {
		b := r.pool.Get()
		b.Reserve(12)
		b.Put(n)
		return r.dev.Xmit(b)
	}
	if err := send(60); err != nil {
		t.Fatal(err)
	}
	r.link.fail = true
	if err := send(70); err == nil {
		t.Fatal("failed transmit reported no error")
	}
	s := &r.dev.Stats
	if s.TxPackets.Load() != 1 || s.TxBytes.Load() != 60 || s.TxDropped.Load() != 1 || len(r.link.sent) != 1 {
		t.Fatalf("tx %d packets %d bytes %d dropped", s.TxPackets.Load(), s.TxBytes.Load(), s.TxDropped.Load())
	}
	if len(tx) != 2 || !tx[0] || !tx[1] {
		t.Fatalf("taps %v", tx)
	}
}

func TestPcapWriter(t *testing.T) {
	var out bytes.Buffer
	now := int64(3_000_000_123_456) // 3000 s and 123456 ns
	p, err := NewPcapWriter(&out, func() int64 { return now }, 16)
	if err != nil {
		t.Fatal(err)
	}
	f := bytes.Repeat([]byte{0xab}, 20)
	p.Tap(f, false)
	p.Tap(f[:10], true)
	b := out.Bytes()
	if len(b) != 24+16+16+16+10 || p.Frames() != 2 {
		t.Fatalf("%d bytes, %d frames", len(b), p.Frames())
	}
	le := binary.LittleEndian
	if le.Uint32(b[0:]) != 0xa1b2c3d4 || le.Uint16(b[4:]) != 2 || le.Uint16(b[6:]) != 4 ||
		le.Uint32(b[16:]) != 16 || le.Uint32(b[20:]) != 1 {
		t.Fatalf("file header % x", b[:24])
	}
	rec := b[24:]
	if le.Uint32(rec[0:]) != 3000 || le.Uint32(rec[4:]) != 123 || le.Uint32(rec[8:]) != 16 || le.Uint32(rec[12:]) != 20 {
		t.Fatalf("record header % x", rec[:16])
	}
	if rec2 := rec[32:]; le.Uint32(rec2[8:]) != 10 || le.Uint32(rec2[12:]) != 10 {
		t.Fatalf("second record header % x", rec2[:16])
	}
	if p.Err() != nil {
		t.Fatal(p.Err())
	}
}

type failWriter struct{ n int }

func (w *failWriter) Write(p []byte) (int, error) {
	if w.n == 0 {
		return 0, errors.New("disk full")
	}
	w.n--
	return len(p), nil
}

func TestPcapWriterKeepsFirstError(t *testing.T) {
	if _, err := NewPcapWriter(&failWriter{}, nil, 0); err == nil {
		t.Fatal("file header write error lost")
	}
	p, err := NewPcapWriter(&failWriter{n: 1}, func() int64 { return 0 }, 0)
	if err != nil {
		t.Fatal(err)
	}
	p.Tap([]byte{1}, false)
	p.Tap([]byte{1}, false)
	if p.Err() == nil || p.Frames() != 0 {
		t.Fatalf("err %v frames %d", p.Err(), p.Frames())
	}
}

// ethTypeTrans alone: the packet type comes from the destination address
// alone (ours, the broadcast address, any other address with the I/G bit,
// anything else), and the protocol is the EtherType from 0x0600 up, below
// that a length: 802.3 raw (ETH_P_802_3) when the payload starts ff ff,
// else 802.2 LLC.
func TestEthTypeTransClassify(t *testing.T) {
	ours := ourMAC
	igBit := ours
	igBit[0] |= 1
	for _, c := range []struct {
		name    string
		dst     wire.MAC
		typ     uint16
		payload []byte
		pkt     skb.PacketType
		proto   uint16
	}{
		{"ours", ours, wire.EthPIP, nil, skb.PacketHost, wire.EthPIP},
		{"broadcast", wire.BroadcastMAC, wire.EthPARP, nil, skb.PacketBroadcast, wire.EthPARP},
		{"all ones but the last bit", wire.MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xfe}, wire.EthPIP, nil, skb.PacketMulticast, wire.EthPIP},
		{"ours with the I/G bit", igBit, wire.EthPIP, nil, skb.PacketMulticast, wire.EthPIP},
		{"IPv6 multicast", wire.MAC{0x33, 0x33, 0, 0, 0, 1}, 0x86dd, nil, skb.PacketMulticast, 0x86dd},
		{"another host", peerMAC, wire.EthPIP, nil, skb.PacketOtherHost, wire.EthPIP},
		{"zero address", wire.MAC{}, wire.EthPIP, nil, skb.PacketOtherHost, wire.EthPIP},
		{"EtherType 0x0600", ours, 0x0600, []byte{0xff, 0xff}, skb.PacketHost, 0x0600},
		{"length 0x05ff, raw 802.3", ours, 0x05ff, []byte{0xff, 0xff}, skb.PacketHost, wire.EthP8023},
		{"length, ff 00 is LLC", ours, 46, []byte{0xff, 0x00}, skb.PacketHost, wire.EthP8022},
		{"length, 00 ff is LLC", ours, 46, []byte{0x00, 0xff}, skb.PacketHost, wire.EthP8022},
		{"length, SNAP", ours, 46, []byte{0xaa, 0xaa, 0x03}, skb.PacketHost, wire.EthP8022},
		{"length, no payload", ours, 0, nil, skb.PacketHost, wire.EthP8022},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := newRig(t)
			b := r.pool.Get()
			defer b.Free()
			f := b.Put(wire.EthHLen + len(c.payload))
			wire.PutEth(f, c.dst, peerMAC, c.typ)
			copy(f[wire.EthHLen:], c.payload)
			proto := ethTypeTrans(b, r.dev)
			if proto != c.proto || b.PktType != c.pkt {
				t.Errorf("proto %#04x type %d, want %#04x %d", proto, b.PktType, c.proto, c.pkt)
			}
			if b.Len() != len(c.payload) || b.MAC != b.DataOffset()-wire.EthHLen {
				t.Errorf("header not pulled: len %d, mac at %d, data at %d", b.Len(), b.MAC, b.DataOffset())
			}
		})
	}
}
