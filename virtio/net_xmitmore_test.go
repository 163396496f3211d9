package virtio_test

import (
	"fmt"
	"testing"

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
