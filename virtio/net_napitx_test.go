package virtio_test

import (
	"testing"
)

// Without napi_tx, steady transmit traffic makes the device raise no
// interrupt: completions are reclaimed by the next transmit and by the
// receive poll, and the transmit NAPI does not exist.
func TestNoNapiTxNoTransmitInterrupts(t *testing.T) {
	h := newHarness(t, opts{queue: 64, noNapiTx: true})
	if n := len(h.sn.Stats().NAPIs); n != 1 {
		t.Fatalf("%d NAPIs, want only the receive one", n)
	}
	// With event-idx, virtqueue_disable_cb's used_event = 0 still lets the
	// first completion (used index 0 → 1) interrupt, as in Linux; after
	// that, none until the index wraps at 65536.
	if err := h.transmit(0, 64); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "first sent", func() bool { return h.dev.Stats().TxFrames == 1 })
	base := h.dev.Stats()
	for i := 0; i < 500; i++ {
		if err := h.transmit(i, 64); err != nil {
			t.Fatalf("transmit %d: %v", i, err)
		}
		if i%50 == 49 {
			waitUntil(t, "sent", func() bool { return h.dev.Stats().TxFrames >= base.TxFrames+uint64(i+1) })
		}
	}
	waitUntil(t, "all sent", func() bool { return h.dev.Stats().TxFrames == base.TxFrames+500 })
	st := h.dev.Stats()
	if irqs := st.Interrupts - base.Interrupts; irqs != 0 {
		t.Fatalf("device raised %d interrupts for transmit-only traffic", irqs)
	}
	if s := h.net.Stats(); s.TX.Stops != 0 || s.TX.Packets < 450 {
		t.Fatalf("%s", s)
	}
	// What the last transmits left unreclaimed goes back to the pool
	// through the cleanup timer, still without an interrupt.
	waitUntil(t, "reclaimed", func() bool { return h.txPool.InUse() == 0 })
	if s := h.net.Stats(); s.TX.Packets != 501 {
		t.Fatalf("%d packets counted sent, want 501", s.TX.Packets)
	}
	if irqs := h.dev.Stats().Interrupts - base.Interrupts; irqs != 0 {
		t.Fatalf("device raised %d interrupts", irqs)
	}
}
