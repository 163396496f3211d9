package main

import (
	"bytes"
	"encoding/binary"
	"sync"
	"testing"

	"github.com/kaidoku-net/kaidoku/image/xdpprog"
	"github.com/kaidoku-net/kaidoku/netstack/latency"
	"github.com/kaidoku-net/kaidoku/netstack/skb"
	"github.com/kaidoku-net/kaidoku/xdp"
	"github.com/kaidoku-net/kaidoku/xsk"
)

type link struct {
	mu sync.Mutex
	// +checklocks:mu
	frames [][]byte
}

// sent returns the frames transmitted so far.
func (l *link) sent() [][]byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.frames
}

func (l *link) Transmit(b *skb.Buffer) error {
	l.mu.Lock()
	l.frames = append(l.frames, append([]byte(nil), b.Data()...))
	l.mu.Unlock()
	b.Free()
	return nil
}

func (l *link) Headroom() int { return 12 }

func request(seq int) []byte {
	f := make([]byte, 14+20+8+16)
	copy(f[0:6], []byte{2, 0, 0, 0, 0, 15})
	copy(f[6:12], []byte{2, 0, 0, 0, 0, 2})
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	ip := f[14:]
	ip[0], ip[9] = 0x45, 17
	binary.BigEndian.PutUint16(ip[2:], uint16(len(ip)))
	copy(ip[12:], []byte{10, 0, 2, 2, 10, 0, 2, 15})
	binary.BigEndian.PutUint16(ip[20:], 4000)
	binary.BigEndian.PutUint16(ip[22:], 7)
	binary.BigEndian.PutUint64(ip[28:], uint64(seq))
	return f
}

// The echo answers every datagram from its UMEM frame and keeps its
// frames circulating: many times more requests than frames go through.
func TestEcho(t *testing.T) {
	const frames = 16
	u, err := xsk.NewUMEM(skb.HeapMemory, xsk.UMEMConfig{Frames: frames, FillSize: 8, CompletionSize: 8})
	if err != nil {
		t.Fatal(err)
	}
	pool, _ := skb.NewPool("tx", 2048, 64, skb.HeapMemory)
	l := &link{}
	s, err := xsk.New(u, xsk.Config{RxSize: 8, TxSize: 8, Ifindex: 2, Link: l, TxPool: pool, NeedWakeup: true})
	if err != nil {
		t.Fatal(err)
	}
	var trace latency.Trace
	clock := int64(1000)
	e := newEcho(s, func() int64 { return clock }, &trace)
	prog := xdpprog.RedirectUDP(7, s)
	const n = 200
	for seq := 0; seq < n; seq += 4 {
		for i := seq; i < seq+4; i++ {
			f := request(i)
			var b xdp.Buff
			b.Init(f, 0, len(f))
			b.Ifindex, b.T0 = 2, clock-100
			if prog(&b) != xdp.Redirect || b.DoRedirect() != nil {
				t.Fatalf("request %d not redirected: %+v", i, s.Stats())
			}
		}
		s.XDPFlush()
		if got := e.serve(); got != 4 {
			t.Fatalf("served %d", got)
		}
	}
	sent := l.sent()
	if len(sent) != n {
		t.Fatalf("%d answers to %d requests", len(sent), n)
	}
	for i, f := range sent {
		want := request(i)
		xdpprog.Reverse(want)
		if !bytes.Equal(f, want) {
			t.Fatalf("answer %d: % x", i, f)
		}
	}
	if st := s.Stats(); st.RxDropped != 0 || st.TxInvalidDescs != 0 || st.FillInvalidDescs != 0 || st.RxPackets != n || st.TxPackets != n {
		t.Fatalf("%+v", st)
	}
	if trace.Total.Count() != n || trace.Total.Max() != 100 {
		t.Fatalf("latency: %d samples, max %d", trace.Total.Count(), trace.Total.Max())
	}
}
