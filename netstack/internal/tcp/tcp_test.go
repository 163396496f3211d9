package tcp

import (
	"encoding/binary"
	"testing"

	"github.com/kaidoku-net/kaidoku/netstack/internal/ipv4"
	"github.com/kaidoku-net/kaidoku/netstack/internal/mib"
	"github.com/kaidoku-net/kaidoku/netstack/internal/wire"
	"github.com/kaidoku-net/kaidoku/netstack/skb"
)

var (
	peer = wire.AddrOf(10, 0, 0, 9)
	us   = wire.AddrOf(10, 0, 0, 5)
)

// segment builds a TCP segment from peer:40000 to us:80 with a data
// offset of doff words (options zero-filled) and a correct checksum.
func segment(flags byte, seq, ack uint32, doff int, payload []byte) []byte {
	th := make([]byte, doff*4+len(payload))
	binary.BigEndian.PutUint16(th[0:], 40000)
	binary.BigEndian.PutUint16(th[2:], 80)
	binary.BigEndian.PutUint32(th[4:], seq)
	binary.BigEndian.PutUint32(th[8:], ack)
	th[12] = byte(doff) << 4
	th[13] = flags
	copy(th[doff*4:], payload)
	binary.BigEndian.PutUint16(th[16:], wire.CsumFold(wire.Checksum(th, wire.PseudoSum(peer, us, wire.ProtoTCP, len(th)))))
	return th
}

// The reset tcp_v4_send_reset sends for a segment no socket wants: ports
// swapped, no options; with no ACK in the segment it acknowledges
// everything the segment occupied (data, SYN and FIN each one) and has
// sequence number 0; else its sequence number is the segment's
// acknowledgment number and it acknowledges nothing.
func TestResetFor(t *testing.T) {
	for _, c := range []struct {
		name     string
		seg      []byte
		flags    byte
		seq, ack uint32
	}{
		{"SYN", segment(flagSYN, 1000, 0, 5, nil), flagRST | flagACK, 0, 1001},
		{"SYN, FIN and 5 bytes", segment(flagSYN|flagFIN, 1000, 0, 5, []byte("hello")), flagRST | flagACK, 0, 1007},
		{"bare segment with data", segment(0, 1000, 0, 5, []byte("abc")), flagRST | flagACK, 0, 1003},
		{"options are not data", segment(flagSYN, 1000, 0, 8, []byte("ab")), flagRST | flagACK, 0, 1003},
		{"sequence number wraps", segment(flagSYN, 0xffffffff, 0, 5, nil), flagRST | flagACK, 0, 0},
		{"ACK", segment(flagACK, 5, 777, 5, []byte("data")), flagRST, 777, 0},
		{"FIN ACK", segment(flagFIN|flagACK, 5, 0x80000000, 5, nil), flagRST, 0x80000000, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			rep := resetFor(c.seg, len(c.seg), peer, us)
			r := rep[:]
			if sp, dp := binary.BigEndian.Uint16(r[0:]), binary.BigEndian.Uint16(r[2:]); sp != 80 || dp != 40000 {
				t.Errorf("ports %d → %d", sp, dp)
			}
			if r[12] != 5<<4 || r[13] != c.flags {
				t.Errorf("data offset %d flags %#x, want 5 %#x", r[12]>>4, r[13], c.flags)
			}
			if seq, ack := binary.BigEndian.Uint32(r[4:]), binary.BigEndian.Uint32(r[8:]); seq != c.seq || ack != c.ack {
				t.Errorf("seq %d ack %d, want %d %d", seq, ack, c.seq, c.ack)
			}
			if w, urg := binary.BigEndian.Uint16(r[14:]), binary.BigEndian.Uint16(r[18:]); w != 0 || urg != 0 {
				t.Errorf("window %d urgent %d", w, urg)
			}
			if s := wire.CsumFold(wire.Checksum(r, wire.PseudoSum(us, peer, wire.ProtoTCP, HLen))); s != 0 {
				t.Errorf("checksum does not verify from us to the peer: %#04x", s)
			}
		})
	}
}

// tcp_v4_rcv for segments that get no reset: each ends in its own
// counters and drop reason. (The resets themselves, which go out through
// IPv4, are checked through the whole stack in package netstack.)
func TestTcpV4RcvNoReply(t *testing.T) {
	pool, err := skb.NewPool("tcp", 256, 1, skb.HeapMemory)
	if err != nil {
		t.Fatal(err)
	}
	good := segment(flagSYN, 1, 0, 5, nil)
	bad := segment(flagSYN, 1, 0, 5, nil)
	bad[17] ^= 1
	short := segment(flagSYN, 1, 0, 5, nil)
	short[12] = 4 << 4
	long := segment(flagSYN, 1, 0, 5, nil)
	long[12] = 6 << 4
	for _, c := range []struct {
		name   string
		seg    []byte
		pkt    skb.PacketType
		rt     uint8
		summed skb.Checksum
		want   map[string]uint64
	}{
		{"not for this host", good, skb.PacketOtherHost, ipv4.RtnLocal, skb.ChecksumNone,
			map[string]uint64{"Tcp.InSegs": 0, "Drop.NOT_SPECIFIED": 1}},
		{"shorter than a header", good[:19], skb.PacketHost, ipv4.RtnLocal, skb.ChecksumNone,
			map[string]uint64{"Tcp.InSegs": 1, "Tcp.InErrs": 0, "Drop.NOT_SPECIFIED": 1}},
		{"data offset 4", short, skb.PacketHost, ipv4.RtnLocal, skb.ChecksumNone,
			map[string]uint64{"Tcp.InSegs": 1, "Tcp.InErrs": 1, "Drop.PKT_TOO_SMALL": 1}},
		{"data offset past the end", long, skb.PacketHost, ipv4.RtnLocal, skb.ChecksumNone,
			map[string]uint64{"Tcp.InSegs": 1, "Tcp.InErrs": 0, "Drop.NOT_SPECIFIED": 1}},
		{"bad checksum", bad, skb.PacketHost, ipv4.RtnLocal, skb.ChecksumNone,
			map[string]uint64{"Tcp.InSegs": 1, "Tcp.InErrs": 1, "Tcp.InCsumErrors": 1, "Drop.TCP_CSUM": 1}},
		{"RST", segment(flagRST, 1, 0, 5, nil), skb.PacketHost, ipv4.RtnLocal, skb.ChecksumNone,
			map[string]uint64{"Tcp.InSegs": 1, "Tcp.OutRsts": 0, "Drop.NO_SOCKET": 1}},
		{"RST, bad checksum verified by the device", func() []byte {
			s := segment(flagRST, 1, 0, 5, nil)
			s[17] ^= 1
			return s
		}(), skb.PacketHost, ipv4.RtnLocal, skb.ChecksumUnnecessary,
			map[string]uint64{"Tcp.InSegs": 1, "Tcp.InCsumErrors": 0, "Drop.NO_SOCKET": 1}},
		{"SYN routed as broadcast", good, skb.PacketHost, ipv4.RtnBroadcast, skb.ChecksumNone,
			map[string]uint64{"Tcp.InSegs": 1, "Tcp.OutRsts": 0, "Tcp.OutSegs": 0, "Drop.NO_SOCKET": 1}},
		{"SYN routed as multicast", good, skb.PacketHost, ipv4.RtnMulticast, skb.ChecksumNone,
			map[string]uint64{"Tcp.InSegs": 1, "Tcp.OutRsts": 0, "Drop.NO_SOCKET": 1}},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := new(mib.MIB)
			tc := &TCP{mib: m}
			b := pool.Get()
			p := b.Put(20 + len(c.seg))
			wire.PutIPv4(p, 0, len(p), 1, 0, 64, wire.ProtoTCP, peer, us)
			copy(p[20:], c.seg)
			b.Network = b.DataOffset()
			b.Pull(20)
			b.PktType = c.pkt
			b.Rt.Type = c.rt
			b.IPSummed = c.summed
			if r := tc.tcpV4Rcv(b); r != 0 {
				t.Errorf("returned %d", r)
			}
			if pool.InUse() != 0 {
				t.Fatal("segment not freed")
			}
			drops := uint64(0)
			for name, want := range c.want {
				if v, ok := m.Value(name); !ok || v != want {
					t.Errorf("%s = %d, want %d", name, v, want)
				}
				if len(name) > 5 && name[:5] == "Drop." {
					drops += want
				}
			}
			if drops != 1 {
				t.Fatalf("test case names %d drop reasons", drops)
			}
		})
	}
}
