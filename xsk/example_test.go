package xsk_test

import (
	"github.com/kaidoku-net/kaidoku/netstack/skb"
	"github.com/kaidoku-net/kaidoku/xsk"
)

// An AF_XDP socket's life, as image/xskecho lives it: every UMEM frame
// on the fill ring, the device's program redirecting to the socket
// (dev.SetXDP(sock.Program())), then: wait, take frames off the RX ring,
// answer them through the TX ring, Kick, and give completed frames back
// to the fill ring.
func Example() {
	var dev xsk.Link     // the virtio.Net
	var txPool *skb.Pool // the device's frame pool
	umem, err := xsk.NewUMEM(skb.HeapMemory, xsk.UMEMConfig{Frames: 64, FillSize: 64, CompletionSize: 64})
	if err != nil {
		return
	}
	sock, err := xsk.New(umem, xsk.Config{RxSize: 64, TxSize: 64, Ifindex: 2, Link: dev, TxPool: txPool, NeedWakeup: true})
	if err != nil {
		return
	}
	idx, _ := umem.Fill.Reserve(64)
	for i := uint32(0); i < 64; i++ {
		umem.Fill.SetAddr(idx+i, uint64(i)*uint64(umem.FrameSize()))
	}
	umem.Fill.Submit(64)
	// dev.SetXDP(sock.Program())
	for {
		if _, err := sock.Wait(-1); err != nil {
			return
		}
		ridx, n := sock.Rx.Peek(16)
		tidx, _ := sock.Tx.Reserve(n) // the TX ring is as large as the RX ring here: room for n
		for i := uint32(0); i < n; i++ {
			d := sock.Rx.Desc(ridx + i)
			frame := umem.Data(d.Addr, int(d.Len))
			_ = frame // answer it in place
			sock.Tx.SetDesc(tidx+i, d)
		}
		sock.Rx.Release(n)
		sock.Tx.Submit(n)
		if sock.Tx.NeedsWakeup() {
			sock.Kick()
		}
		cidx, done := umem.Completion.Peek(16)
		fidx, _ := umem.Fill.Reserve(done) // a frame is on one ring at a time: there is room
		for i := uint32(0); i < done; i++ {
			umem.Fill.SetAddr(fidx+i, umem.Completion.Addr(cidx+i))
		}
		umem.Completion.Release(done)
		umem.Fill.Submit(done)
	}
}
