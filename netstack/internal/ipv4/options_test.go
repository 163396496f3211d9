package ipv4

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/kaidoku-net/kaidoku/netstack/internal/wire"
	"github.com/kaidoku-net/kaidoku/netstack/skb"
)

// optCase is one option list run through ipOptionsCompile, as received
// (rcv: a packet routed to this host, whose slots get filled) or not.
type optCase struct {
	name string
	opts []byte
	rcv  bool
	ptr  int    // Parameter Problem pointer; 0: the options are valid
	want []byte // the options afterwards; nil: unchanged
	opt  skb.IPOptions
}

var (
	ourAddr  = []byte{10, 0, 0, 5}
	peerAddr = []byte{10, 0, 0, 9}
	zero4    = []byte{0, 0, 0, 0}
)

func join(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// runOptCases compiles each case's options in a header from the peer to
// this host (10.0.0.5/24 at 1000 s on the fake clock).
func runOptCases(t *testing.T, cases []optCase) {
	t.Helper()
	ip, _ := testIP(nil)
	pool, err := skb.NewPool("opts", 256, 1, skb.HeapMemory)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := pool.Get()
			defer b.Free()
			b.Network = b.DataOffset()
			h := b.Put(20 + len(c.opts))
			wire.PutIPv4(h, 0, len(h), 1, 0, 64, wire.ProtoUDP, wire.AddrFrom4([4]byte(peerAddr)), wire.AddrFrom4([4]byte(ourAddr)))
			copy(h[20:], c.opts)
			b.Rt = skb.Route{Type: RtnLocal, Flags: RtcfLocal, Valid: true}
			rcv := b
			if !c.rcv {
				rcv = nil
			}
			opt := skb.IPOptions{Optlen: uint8(len(c.opts))}
			info, bad := ip.ipOptionsCompile(h, &opt, rcv)
			if bad != (c.ptr != 0) || (bad && int(info>>24) != c.ptr) || info&0xffffff != 0 {
				t.Fatalf("bad=%v pointer %d, want pointer %d", bad, info>>24, c.ptr)
			}
			want := c.want
			if want == nil {
				want = c.opts
			}
			if !bytes.Equal(h[20:], want) {
				t.Fatalf("options % x\n   want % x", h[20:], want)
			}
			c.opt.Optlen = uint8(len(c.opts))
			if opt != c.opt {
				t.Fatalf("compiled %+v\n    want %+v", opt, c.opt)
			}
		})
	}
}

// midnight is inet_current_timestamp at 1000 s on the fake clock.
var midnight = binary.BigEndian.AppendUint32(nil, 1000*1000)

func TestIPOptionsCompileFraming(t *testing.T) {
	runOptCases(t, []optCase{
		{name: "NOPs", opts: []byte{1, 1, 1, 1}},
		{name: "END blanks the rest", opts: []byte{0, 5, 6, 7}, want: []byte{0, 0, 0, 0}},
		{name: "NOP then END", opts: []byte{1, 0, 9, 9}, want: []byte{1, 0, 0, 0}},
		{name: "unknown option accepted", opts: []byte{0x9e, 4, 1, 2}},
		{name: "security option accepted", opts: []byte{130, 4, 1, 2}},
		{name: "stream id accepted", opts: []byte{136, 4, 1, 2}},
		{name: "length 0", opts: []byte{0x9e, 0, 0, 0}, ptr: 20},
		{name: "length 1", opts: []byte{0x9e, 1, 0, 0}, ptr: 20},
		{name: "length past the header", opts: []byte{1, 0x9e, 4, 0}, ptr: 21},
		{name: "type byte alone at the end", opts: []byte{1, 1, 1, 7}, ptr: 23},
	})
}

func TestIPOptionsCompileRecordRoute(t *testing.T) {
	runOptCases(t, []optCase{
		{name: "first slot filled", opts: join([]byte{7, 7, 4}, zero4, []byte{0}), rcv: true,
			want: join([]byte{7, 7, 8}, ourAddr, []byte{0}), opt: skb.IPOptions{RR: 20, RRNeedAddr: true}},
		{name: "second slot filled", opts: join([]byte{7, 11, 8}, peerAddr, zero4, []byte{0}), rcv: true,
			want: join([]byte{7, 11, 12}, peerAddr, ourAddr, []byte{0}), opt: skb.IPOptions{RR: 20, RRNeedAddr: true}},
		{name: "not received: pointer moves, slot untouched", opts: join([]byte{7, 7, 4}, zero4, []byte{0}),
			want: join([]byte{7, 7, 8}, zero4, []byte{0}), opt: skb.IPOptions{RR: 20, RRNeedAddr: true}},
		{name: "full", opts: join([]byte{7, 7, 8}, peerAddr, []byte{0}), rcv: true, opt: skb.IPOptions{RR: 20}},
		{name: "pointer far past the end", opts: join([]byte{7, 7, 200}, peerAddr, []byte{0}), rcv: true, opt: skb.IPOptions{RR: 20}},
		{name: "after a NOP", opts: join([]byte{1, 7, 7, 4}, zero4), rcv: true,
			want: join([]byte{1, 7, 7, 8}, ourAddr), opt: skb.IPOptions{RR: 21, RRNeedAddr: true}},
		{name: "length 2", opts: []byte{7, 2, 1, 1}, ptr: 21},
		{name: "pointer below 4", opts: join([]byte{7, 7, 3}, zero4, []byte{0}), ptr: 22},
		{name: "partial slot", opts: join([]byte{7, 7, 6}, zero4, []byte{0}), ptr: 22},
		{name: "second RR", opts: []byte{7, 3, 8, 7, 3, 8, 1, 1}, ptr: 23, opt: skb.IPOptions{RR: 20}},
	})
}

func TestIPOptionsCompileTimestamp(t *testing.T) {
	runOptCases(t, []optCase{
		{name: "time only", opts: join([]byte{68, 8, 5, 0}, zero4), rcv: true,
			want: join([]byte{68, 8, 9, 0}, midnight), opt: skb.IPOptions{TS: 20, TSNeedTime: true}},
		{name: "time only, not received", opts: join([]byte{68, 8, 5, 0}, zero4),
			want: join([]byte{68, 8, 9, 0}, zero4), opt: skb.IPOptions{TS: 20, TSNeedTime: true}},
		{name: "address and time", opts: join([]byte{68, 12, 5, 1}, zero4, zero4), rcv: true,
			want: join([]byte{68, 12, 13, 1}, ourAddr, midnight), opt: skb.IPOptions{TS: 20, TSNeedAddr: true, TSNeedTime: true}},
		{name: "address and time, half a slot", opts: join([]byte{68, 8, 5, 1}, zero4), ptr: 22},
		{name: "prespecified, ours", opts: join([]byte{68, 12, 5, 3}, ourAddr, zero4), rcv: true,
			want: join([]byte{68, 12, 13, 3}, ourAddr, midnight), opt: skb.IPOptions{TS: 20, TSNeedTime: true}},
		{name: "prespecified, someone else's", opts: join([]byte{68, 12, 5, 3}, peerAddr, zero4), rcv: true,
			opt: skb.IPOptions{TS: 20}},
		{name: "prespecified, half a slot", opts: join([]byte{68, 8, 5, 3}, ourAddr), ptr: 22},
		{name: "unknown flag left alone", opts: join([]byte{68, 8, 5, 2}, zero4), rcv: true, opt: skb.IPOptions{TS: 20}},
		{name: "full: overflow counted", opts: join([]byte{68, 8, 9, 0x20}, peerAddr), rcv: true,
			want: join([]byte{68, 8, 9, 0x30}, peerAddr), opt: skb.IPOptions{TS: 20}},
		{name: "full, not received: overflow kept", opts: join([]byte{68, 8, 9, 0x20}, peerAddr), opt: skb.IPOptions{TS: 20}},
		{name: "full prespecified: no overflow", opts: join([]byte{68, 12, 13, 3}, peerAddr, zero4), rcv: true,
			opt: skb.IPOptions{TS: 20}},
		{name: "overflow at 15", opts: join([]byte{68, 8, 9, 0xf0}, peerAddr), rcv: true, ptr: 23},
		{name: "length 3", opts: []byte{68, 3, 5, 1}, ptr: 21},
		{name: "pointer below 5", opts: join([]byte{68, 8, 4, 0}, zero4), ptr: 22},
		{name: "partial slot", opts: join([]byte{68, 8, 6, 0}, zero4), ptr: 22},
		{name: "second timestamp", opts: []byte{68, 4, 5, 0, 68, 4, 5, 0}, rcv: true, ptr: 24,
			want: []byte{68, 4, 5, 0x10, 68, 4, 5, 0}, opt: skb.IPOptions{TS: 20}},
	})
}

func TestIPOptionsCompileSourceRoute(t *testing.T) {
	runOptCases(t, []optCase{
		{name: "loose", opts: join([]byte{131, 7, 4}, peerAddr, []byte{0}), rcv: true, opt: skb.IPOptions{SRR: 20}},
		{name: "strict", opts: join([]byte{137, 7, 8}, peerAddr, []byte{0}), rcv: true, opt: skb.IPOptions{SRR: 20, IsStrict: true}},
		{name: "length 2", opts: []byte{131, 2, 1, 1}, ptr: 21},
		{name: "pointer below 4", opts: join([]byte{131, 7, 3}, peerAddr, []byte{0}), ptr: 22},
		{name: "second source route", opts: []byte{131, 3, 4, 137, 3, 4, 0, 0}, ptr: 23, opt: skb.IPOptions{SRR: 20}},
	})
}

func TestIPOptionsCompileRouterAlert(t *testing.T) {
	runOptCases(t, []optCase{
		{name: "value 0", opts: []byte{148, 4, 0, 0}, opt: skb.IPOptions{RouterAlert: 20}},
		{name: "other value", opts: []byte{148, 4, 0, 1}},
		{name: "length 3", opts: []byte{148, 3, 0, 1}, ptr: 21},
	})
}

func TestIPOptionsCompileCIPSO(t *testing.T) {
	runOptCases(t, []optCase{
		{name: "shorter than 8", opts: []byte{134, 6, 0, 0, 0, 1, 0, 0}, ptr: 21, opt: skb.IPOptions{CIPSO: 20}},
		{name: "no DOI configured", opts: []byte{134, 8, 0, 0, 0, 1, 0, 0}, ptr: 22, opt: skb.IPOptions{CIPSO: 20}},
	})
}
