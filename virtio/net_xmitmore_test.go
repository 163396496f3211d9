package virtio_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/kaidoku-net/kaidoku/virtio"
	"github.com/kaidoku-net/kaidoku/virtio/virtiotest"
)

// transmitMore sends a frame from the TX pool with XmitMore set as given.
func (h *harness) transmitMore(seq, size int, more bool) error {
	b := h.txPool.Get()
	if b == nil {
		h.t.Fatal("tx pool empty")
	}
	b.Reserve(h.net.Headroom())
	copy(b.Put(size), frame(seq, size))
	b.XmitMore = more
	return h.net.Transmit(b)
}

// A batch whose frames but the last carry XmitMore costs one notification
// (start_xmit kicks only when !netdev_xmit_more()); lone frames notify
// one each and are never held back: each is on the wire when Transmit
// returns, as the model sends on the notification. Flush announces a
// batch that ended without its last frame, and does nothing when nothing
// is pending.
func TestXmitMoreBatchesNotifications(t *testing.T) {
	for _, napiTx := range []bool{true, false} {
		t.Run(fmt.Sprintf("napi_tx=%v", napiTx), func(t *testing.T) { testXmitMore(t, napiTx) })
	}
}

func testXmitMore(t *testing.T, napiTx bool) {
	h := newHarness(t, opts{queue: 64, noNapiTx: !napiTx})
	seq := 0
	step := func(name string, frames []bool, flush bool, wantNotifies, wantSent uint64) {
		t.Helper()
		base, nb := h.dev.Stats(), h.net.Stats()
		for _, more := range frames {
			if err := h.transmitMore(seq, 64, more); err != nil {
				t.Fatalf("%s: transmit %d: %v", name, seq, err)
			}
			seq++
		}
		if flush {
			h.net.Flush()
		}
		ds, ns := h.dev.Stats(), h.net.Stats()
		notifies := ds.Notifies[virtiotest.TX] - base.Notifies[virtiotest.TX]
		sent := ds.TxFrames - base.TxFrames
		if notifies != wantNotifies || sent != wantSent {
			t.Fatalf("%s: %d frames: %d notifications, %d sent; want %d and %d", name, len(frames), notifies, sent, wantNotifies, wantSent)
		}
		if k := ns.TX.Kicks - nb.TX.Kicks; k != notifies {
			t.Fatalf("%s: driver counted %d kicks for %d notifications", name, k, notifies)
		}
		if x := ns.TX.Xmit - nb.TX.Xmit; x != uint64(len(frames)) {
			t.Fatalf("%s: driver counted %d frames posted, want %d", name, x, len(frames))
		}
		more := uint64(0)
		for _, m := range frames {
			if m {
				more++
			}
		}
		if x := ns.TX.XmitMore - nb.TX.XmitMore; x != more {
			t.Fatalf("%s: driver counted %d xmit_more frames, want %d", name, x, more)
		}
	}
	lone := make([]bool, 8)
	batch := []bool{true, true, true, true, true, true, true, false}
	step("lone frames", lone, false, 8, 8)
	step("batch", batch, false, 1, 8)
	step("batch cut short", batch[:5], false, 0, 0)
	step("flush", nil, true, 1, 5)
	step("flush with nothing pending", nil, true, 0, 0)
	step("lone frame after a batch", lone[:1], false, 1, 1)
}

// Batches from several goroutines at once, longer than the ring, reach
// the wire whole: a full ring kicks whatever XmitMore said (start_xmit's
// netif_xmit_stopped), the qdisc backlog drains when the queue wakes, and
// every batch's last frame announces what the others posted. Nothing is
// left unannounced once every sender returns.
func TestXmitMoreConcurrentBatches(t *testing.T) {
	for _, napiTx := range []bool{true, false} {
		t.Run(fmt.Sprintf("napi_tx=%v", napiTx), func(t *testing.T) {
			const ring, senders, batches = 16, 4, 40
			h := newHarness(t, opts{queue: ring, txQueueLen: 1000, noNapiTx: !napiTx})
			base := h.dev.Stats().TxFrames
			var wg sync.WaitGroup
			total := 0
			for g := 0; g < senders; g++ {
				sizes := make([]int, batches)
				for i := range sizes {
					sizes[i] = 1 + (g*7+i*13)%(2*ring+3) // 1 to 2 rings' worth and more
					total += sizes[i]
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					for _, n := range sizes {
						for j := 0; j < n; j++ {
							// Senders outrunning a stopped queue may
							// fill the backlog: those frames are
							// dropped and counted.
							if err := h.transmitMore(j, 64, j < n-1); err != nil && !errors.Is(err, virtio.ErrTxQueueFull) {
								t.Errorf("transmit: %v", err)
								return
							}
						}
					}
				}()
			}
			wg.Wait()
			want := uint64(total) - h.net.Stats().TX.BacklogDrops
			waitUntil(t, "every frame sent", func() bool { return h.dev.Stats().TxFrames-base == want })
			if st := h.net.Stats(); st.TX.Xmit != want || st.TX.Kicks >= st.TX.Xmit || st.TX.Backlog != 0 {
				t.Fatalf("%d frames, %d sent: %s", total, want, st)
			}
		})
	}
}
