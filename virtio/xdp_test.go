package virtio_test

import (
	"bytes"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/kaidoku-net/kaidoku/netstack/skb"
	"github.com/kaidoku-net/kaidoku/virtio"
	"github.com/kaidoku-net/kaidoku/virtio/virtiotest"
	"github.com/kaidoku-net/kaidoku/xdp"
)

// target is a redirect target that copies what it is given.
type target struct {
	mu sync.Mutex
	// +checklocks:mu
	frames [][]byte
	// +checklocks:mu
	flushes int
	// +checklocks:mu
	err error
}

func (t *target) XDPRedirect(b *xdp.Buff) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.err != nil {
		return t.err
	}
	t.frames = append(t.frames, append([]byte(nil), b.Data()...))
	return nil
}

func (t *target) XDPFlush() {
	t.mu.Lock()
	t.flushes++
	t.mu.Unlock()
}

func (t *target) count() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.frames)
}

// swapMAC is the smallest XDP_TX program: back to the sender.
func swapMAC(b *xdp.Buff) xdp.Action {
	d := b.Data()
	var m [6]byte
	copy(m[:], d[0:6])
	copy(d[0:6], d[6:12])
	copy(d[6:12], m[:])
	return xdp.TX
}

// Every action does what Linux's virtnet_xdp_handler does with it, and
// is counted where virtio-net counts it.
func TestXDPActions(t *testing.T) {
	const n = 40
	errFull := errors.New("full")
	type want struct {
		delivered, txed, redirected     int
		packets, tx, redirects, drops   uint64
		txqTx, txqDrops, exceptions, rq uint64
	}
	for _, tc := range []struct {
		name   string
		prog   func(tg *target) xdp.Program
		tgErr  error
		want   want
		verify func(t *testing.T, h *harness, tx [][]byte, tg *target)
	}{
		{"pass", func(*target) xdp.Program { return func(*xdp.Buff) xdp.Action { return xdp.Pass } }, nil,
			want{delivered: n, packets: n}, func(t *testing.T, h *harness, _ [][]byte, _ *target) {
				h.mu.Lock()
				defer h.mu.Unlock()
				for i, f := range h.frames {
					if !bytes.Equal(f, frame(i, 100)) {
						t.Fatalf("frame %d changed", i)
					}
				}
			}},
		{"drop", func(*target) xdp.Program { return func(*xdp.Buff) xdp.Action { return xdp.Drop } }, nil,
			want{packets: n, drops: n, rq: n}, nil},
		{"aborted", func(*target) xdp.Program { return func(*xdp.Buff) xdp.Action { return xdp.Aborted } }, nil,
			want{packets: n, drops: n, rq: n, exceptions: n}, nil},
		{"unknown action", func(*target) xdp.Program { return func(*xdp.Buff) xdp.Action { return 99 } }, nil,
			want{packets: n, drops: n, rq: n, exceptions: n}, nil},
		{"tx", func(*target) xdp.Program { return swapMAC }, nil,
			want{txed: n, packets: n, tx: n, txqTx: n}, func(t *testing.T, _ *harness, tx [][]byte, _ *target) {
				for i, f := range tx {
					w := frame(i, 100)
					copy(w[0:6], peerMAC[:])
					copy(w[6:12], devMAC[:])
					if !bytes.Equal(f, w) {
						t.Fatalf("XDP_TX frame %d: % x", i, f[:20])
					}
				}
			}},
		{"redirect", func(tg *target) xdp.Program {
			return func(b *xdp.Buff) xdp.Action { return b.RedirectTo(tg) }
		}, nil, want{redirected: n, packets: n, redirects: n}, func(t *testing.T, _ *harness, _ [][]byte, tg *target) {
			tg.mu.Lock()
			defer tg.mu.Unlock()
			for i, f := range tg.frames {
				if !bytes.Equal(f, frame(i, 100)) {
					t.Fatalf("redirected frame %d differs", i)
				}
			}
			if tg.flushes == 0 || tg.flushes > n {
				t.Fatalf("%d flushes for %d frames", tg.flushes, n)
			}
		}},
		{"redirect refused", func(tg *target) xdp.Program {
			return func(b *xdp.Buff) xdp.Action { return b.RedirectTo(tg) }
		}, errFull, want{packets: n, redirects: n, drops: n, rq: n, exceptions: n}, nil},
		{"redirect without target", func(*target) xdp.Program { return func(*xdp.Buff) xdp.Action { return xdp.Redirect } }, nil,
			want{packets: n, redirects: n, drops: n, rq: n, exceptions: n}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var txr txRecorder
			h := newHarness(t, opts{queue: 64, onTX: txr.record})
			tg := &target{err: tc.tgErr}
			if old := h.net.SetXDP(tc.prog(tg)); old != nil {
				t.Fatal("a program was attached already")
			}
			for i := 0; i < n; i++ {
				if !h.dev.Inject(frame(i, 100), virtiotest.RxOptions{}) {
					t.Fatal("device dropped a frame")
				}
			}
			waitUntil(t, "every frame seen", func() bool { return h.net.Stats().RX.XDPPackets == n })
			waitUntil(t, "transmissions", func() bool {
				return len(txr.sent()) >= tc.want.txed && h.txPool.InUse() == 0 && h.net.Stats().TX.InFlight == 0
			})
			h.waitDelivered(tc.want.delivered)
			st := h.net.Stats()
			sent := txr.sent()
			h.mu.Lock()
			tg.mu.Lock()
			got := want{len(h.frames), len(sent), len(tg.frames), st.RX.XDPPackets, st.RX.XDPTx, st.RX.XDPRedirects,
				st.RX.XDPDrops, st.TX.XDPTx, st.TX.XDPTxDrops, st.XDPExceptions, st.RX.Drops}
			tg.mu.Unlock()
			h.mu.Unlock()
			if got != tc.want {
				t.Fatalf("got %+v, want %+v\n%s", got, tc.want, st)
			}
			if tc.verify != nil {
				tc.verify(t, h, sent, tg)
			}
			h.checkRxAccounting()
			if old := h.net.SetXDP(nil); old == nil {
				t.Fatal("SetXDP(nil) returned no program")
			}
			if h.net.XDP() != nil {
				t.Fatal("program still attached")
			}
		})
	}
}

// A program moves the frame's head and tail; the stack gets the frame
// as the program left it, and XDP_TX sends it so.
func TestXDPAdjust(t *testing.T) {
	for _, tc := range []struct {
		name string
		prog xdp.Program
		want func(f []byte) []byte
	}{
		{"pop 4 bytes after the MACs", func(b *xdp.Buff) xdp.Action {
			d := b.Data()
			copy(d[4:16], d[0:12])
			if err := b.AdjustHead(4); err != nil {
				return xdp.Aborted
			}
			return xdp.Pass
		}, func(f []byte) []byte { return append(append([]byte(nil), f[0:12]...), f[16:]...) }},
		{"push a tag", func(b *xdp.Buff) xdp.Action {
			if err := b.AdjustHead(-4); err != nil {
				return xdp.Aborted
			}
			d := b.Data()
			copy(d[0:12], d[4:16])
			copy(d[12:16], []byte{0x81, 0x00, 0x00, 0x07})
			return xdp.Pass
		}, func(f []byte) []byte {
			return append(append(append([]byte(nil), f[0:12]...), 0x81, 0x00, 0x00, 0x07), f[12:]...)
		}},
		{"trim 30", func(b *xdp.Buff) xdp.Action {
			if b.AdjustTail(-30) != nil {
				return xdp.Aborted
			}
			return xdp.Pass
		}, func(f []byte) []byte { return f[:len(f)-30] }},
		{"grow 8 zeroed", func(b *xdp.Buff) xdp.Action {
			// Dirty the tailroom first: growing must clear it.
			if b.AdjustTail(8) != nil {
				return xdp.Aborted
			}
			d := b.Data()
			for i := len(d) - 8; i < len(d); i++ {
				d[i] = 0xff
			}
			if b.AdjustTail(-8) != nil || b.AdjustTail(8) != nil {
				return xdp.Aborted
			}
			return xdp.Pass
		}, func(f []byte) []byte { return append(append([]byte(nil), f...), make([]byte, 8)...) }},
		{"out of bounds moves nothing", func(b *xdp.Buff) xdp.Action {
			if b.AdjustHead(-b.Headroom()-1) == nil || b.AdjustHead(b.Len()-13) == nil ||
				b.AdjustTail(b.Tailroom()+1) == nil || b.AdjustTail(-(b.Len()-13)) == nil {
				return xdp.Aborted
			}
			return xdp.Pass
		}, func(f []byte) []byte { return f }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, opts{queue: 16})
			h.net.SetXDP(tc.prog)
			h.send(0, 5, 5, 100)
			h.mu.Lock()
			defer h.mu.Unlock()
			for i, f := range h.frames {
				if w := tc.want(frame(i, 100)); !bytes.Equal(f, w) {
					t.Fatalf("frame %d:\n got % x\nwant % x", i, f, w)
				}
			}
			if st := h.net.Stats(); st.XDPExceptions != 0 {
				t.Fatalf("program aborted: %s", st)
			}
		})
	}
}

// XDP_TX of a frame whose head took the whole headroom cannot carry the
// virtio-net header: counted as tx_queue_0_xdp_tx_drops, as Linux's
// __virtnet_xdp_xmit_one refuses it.
func TestXDPTxNoHeadroom(t *testing.T) {
	h := newHarness(t, opts{queue: 16})
	h.net.SetXDP(func(b *xdp.Buff) xdp.Action {
		if b.AdjustHead(-b.Headroom()) != nil {
			return xdp.Aborted
		}
		return xdp.TX
	})
	for i := 0; i < 5; i++ {
		h.dev.Inject(frame(i, 100), virtiotest.RxOptions{})
	}
	waitUntil(t, "xdp_tx_drops", func() bool { return h.net.Stats().TX.XDPTxDrops == 5 })
	if st := h.net.Stats(); st.TX.XDPTx != 5 || st.RX.XDPTx != 5 || h.dev.Stats().TxFrames != 0 {
		t.Fatalf("%s", st)
	}
	h.checkRxAccounting()
}

// The XDP_TX frames of one poll are posted together and notified once.
func TestXDPTxOneNotifyPerPoll(t *testing.T) {
	h := newHarness(t, opts{noRun: true, queue: 128})
	h.net.SetXDP(swapMAC)
	const n = 32 // under the NAPI budget: one poll takes them all
	for i := 0; i < n; i++ {
		if !h.dev.Inject(frame(i, 64), virtiotest.RxOptions{}) {
			t.Fatal("dropped")
		}
	}
	waitUntil(t, "the interrupt", func() bool { return h.net.Stats().RX.Calls >= 1 })
	before := h.dev.Stats()
	polls := 0
	for h.sn.RunOnce() {
		polls++
	}
	ds := h.dev.Stats()
	if sent, notifies := ds.TxFrames-before.TxFrames, ds.Notifies[virtiotest.TX]-before.Notifies[virtiotest.TX]; sent != n || notifies != 1 {
		t.Fatalf("%d polls sent %d frames with %d notifications", polls, sent, notifies)
	}
}

// Replacing and detaching the program while frames flow loses no frame
// and, once SetXDP has returned, never runs the old program again.
func TestXDPReplaceUnderTraffic(t *testing.T) {
	h := newHarness(t, opts{queue: 64})
	var gen atomic.Int64 // the generation whose program may run
	var stale atomic.Int64
	var ran atomic.Uint64
	prog := func(g int64) xdp.Program {
		return func(b *xdp.Buff) xdp.Action {
			ran.Add(1)
			if gen.Load() > g {
				stale.Add(1)
			}
			return xdp.Pass
		}
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for g := int64(1); ; g++ {
			select {
			case <-stop:
				return
			default:
			}
			if g%3 == 0 {
				h.net.SetXDP(nil)
			} else {
				h.net.SetXDP(prog(g))
			}
			// Only now may generation g-1 be retired.
			gen.Store(g)
		}
	}()
	const n = 3000
	h.send(0, n, 50, 80)
	close(stop)
	<-done
	h.mu.Lock()
	for i, f := range h.frames {
		if seqOf(f) != i {
			t.Fatalf("frame %d is %d", i, seqOf(f))
		}
	}
	h.mu.Unlock()
	if stale.Load() != 0 {
		t.Fatalf("a replaced program ran %d times after SetXDP returned", stale.Load())
	}
	st := h.net.Stats()
	if st.RX.XDPPackets != ran.Load() || st.RX.Drops != 0 {
		t.Fatalf("ran %d: %s", ran.Load(), st)
	}
	t.Logf("%d of %d frames went through a program", ran.Load(), n)
}

func TestXDPStatsString(t *testing.T) {
	h := newHarness(t, opts{queue: 16})
	h.net.SetXDP(func(*xdp.Buff) xdp.Action { return xdp.Drop })
	for i := 0; i < 3; i++ {
		h.dev.Inject(frame(i, 64), virtiotest.RxOptions{})
	}
	waitUntil(t, "drops", func() bool { return h.net.Stats().RX.XDPDrops == 3 })
	if s := h.net.Stats().String(); !bytes.Contains([]byte(s), []byte("rx_queue_0_xdp_packets 3 rx_queue_0_xdp_tx 0 rx_queue_0_xdp_redirects 0 rx_queue_0_xdp_drops 3")) {
		t.Fatalf("%s", s)
	}
}

// A frame spread over several buffers reaches the program whole, in the
// buffer it was assembled into: it passes intact, and XDP_TX of it,
// lacking headroom for the virtio-net header, is an xdp_tx_drop.
func TestXDPMultiBuffer(t *testing.T) {
	h := newHarness(t, opts{queue: 32, large: 8})
	var lens []int
	var mu sync.Mutex
	h.net.SetXDP(func(b *xdp.Buff) xdp.Action {
		mu.Lock()
		lens = append(lens, b.Len())
		mu.Unlock()
		if seqOf(b.Data()) == 1 {
			return xdp.TX
		}
		return xdp.Pass
	})
	h.dev.Inject(frame(0, 1000), virtiotest.RxOptions{MaxPerBuffer: 600})
	h.waitDelivered(1)
	h.dev.Inject(frame(1, 1000), virtiotest.RxOptions{MaxPerBuffer: 600})
	waitUntil(t, "xdp_tx_drops", func() bool { return h.net.Stats().TX.XDPTxDrops == 1 })
	h.mu.Lock()
	if !bytes.Equal(h.frames[0], frame(0, 1000)) {
		t.Fatal("multi-buffer frame changed")
	}
	h.mu.Unlock()
	mu.Lock()
	if len(lens) != 2 || lens[0] != 1000 || lens[1] != 1000 {
		t.Fatalf("program saw %v", lens)
	}
	mu.Unlock()
	h.checkRxAccounting()
}

// The header's state around the program: a GSO frame never reaches it
// (receive_small_xdp refuses it, an XDP drop); DATA_VALID is dropped,
// since the program may have changed what the device validated; a
// partial checksum's start follows the head the program moved.
func TestXDPHeaderState(t *testing.T) {
	pop4 := func(b *xdp.Buff) xdp.Action {
		d := b.Data()
		copy(d[4:16], d[0:12])
		b.AdjustHead(4)
		return xdp.Pass
	}
	pass := func(*xdp.Buff) xdp.Action { return xdp.Pass }
	for _, tc := range []struct {
		name                string
		prog                xdp.Program
		opt                 virtiotest.RxOptions
		delivered           bool
		summed              skb.Checksum
		xdpPackets, xdpDrop uint64
		frameErrs           uint64
	}{
		{"gso", pass, virtiotest.RxOptions{GSOType: 1}, false, 0, 0, 1, 0},
		{"data valid", pass, virtiotest.RxOptions{Flags: virtio.NetHdrFDataValid}, true, skb.ChecksumNone, 1, 0, 0},
		{"partial checksum, head moved", pop4, virtiotest.RxOptions{Flags: virtio.NetHdrFNeedsCsum, CsumStart: 52, CsumOffset: 6}, true, skb.ChecksumPartial, 1, 0, 0},
		{"partial checksum before the new head", pop4, virtiotest.RxOptions{Flags: virtio.NetHdrFNeedsCsum, CsumStart: 2, CsumOffset: 6}, false, 0, 1, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, opts{queue: 16})
			h.net.SetXDP(tc.prog)
			h.dev.Inject(frame(7, 60), tc.opt)
			h.dev.Inject(frame(8, 60), virtiotest.RxOptions{})
			want := 1
			if tc.delivered {
				want = 2
			}
			h.waitDelivered(want)
			waitUntil(t, "both frames", func() bool { return h.net.Stats().RX.Packets == 2 })
			st := h.net.Stats()
			h.mu.Lock()
			defer h.mu.Unlock()
			if len(h.frames) != want || (tc.delivered && h.meta[0].IPSummed != tc.summed) {
				t.Fatalf("%d delivered, first %v", len(h.frames), h.meta[0].IPSummed)
			}
			if st.RX.XDPPackets != tc.xdpPackets+1 || st.RX.XDPDrops != tc.xdpDrop || st.RxFrameErrors != tc.frameErrs {
				t.Fatalf("%s", st)
			}
		})
	}
}

// Once the ring has turned over, a program sees every frame behind
// VIRTIO_XDP_HEADROOM plus the virtio-net header; the frames are intact.
func TestXDPHeadroom(t *testing.T) {
	h := newHarness(t, opts{queue: 16})
	var mu sync.Mutex
	var rooms []int
	h.net.SetXDP(func(b *xdp.Buff) xdp.Action {
		mu.Lock()
		rooms = append(rooms, b.Headroom())
		mu.Unlock()
		return xdp.Pass
	})
	h.send(0, 48, 8, 100)
	mu.Lock()
	defer mu.Unlock()
	if last := rooms[len(rooms)-1]; last != 256+virtio.NetHdrLen {
		t.Fatalf("headroom %d after the ring turned over; all: %v", last, rooms)
	}
	h.mu.Lock()
	for i, f := range h.frames {
		if !bytes.Equal(f, frame(i, 100)) {
			t.Fatalf("frame %d differs", i)
		}
	}
	h.mu.Unlock()
	h.checkRxAccounting()
}
