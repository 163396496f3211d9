// Package virtio is kaidoku's virtio-net driver: its own split virtqueues
// in DMA memory, the modern virtio-mmio transport, and a virtio-net device
// with NAPI polling, modelled on Linux v6.8's drivers/virtio/virtio_ring.c,
// drivers/virtio/virtio_mmio.c and drivers/net/virtio_net.c. Functions are
// named after the Linux functions they mirror (virtqueueAddSplit,
// virtqueueGetBufCtxSplit, virtqueueKickPrepare, virtqueueEnableCbPrepare,
// virtqueuePoll, virtqueueDisableCb, tryFillRecv, receiveBuf, virtnetPoll,
// virtqueueNapiComplete, ...), so that a Linux engineer finds every step,
// every counter and every drop where they expect it.
//
// # Wiring
//
// In the image:
//
//	regs := board.MMIO{Base: slot.Base}                 // virtio.Registers
//	rx, _ := skb.NewPool("rx", 2048, 4096, virtio.PoolMemory(dma))
//	sn := napi.NewSoftnet(napi.Config{Now: board.Nanotime})
//	dev, err := virtio.NewNet(regs, dma, virtio.NetConfig{
//		RxPool: rx, Deliver: stack.Receive, Ifindex: 2, Softnet: sn,
//	})
//	irq.Default.Register(vector, "virtio-net", dev.Interrupt)
//	go sn.Run()
//
// (Without NetConfig.Softnet, NewNet makes one from NetConfig.Now; start
// it with go dev.Softnet().Run().) Frames then arrive through Deliver in
// the softnet goroutine, Data() at the Ethernet header, with IPSummed set
// from the virtio-net header, Ifindex, and Trace.T0 (the hard-IRQ time of
// the interrupt that scheduled the poll, as passed to Interrupt) and
// Trace.T1 (the start of the poll). Transmit sends a frame from any
// goroutine; frames need Headroom() bytes in front for the virtio-net
// header and must live in DMA memory, as the pools of PoolMemory do.
//
// # Receive
//
// Interrupt is vm_interrupt: it reads and acknowledges InterruptStatus
// (the two VM exits an interrupt costs under QEMU TCG) and, for the
// receive queue, only turns its interrupts off and schedules the receive
// NAPI (skb_recv_done). The NAPI poll (virtnetPoll) takes up to 64 used
// buffers, validates each as receive_buf does (rx_length_errors,
// rx_frame_errors, drops), refills the ring when more than
// min(64, size)/2 slots are free (try_fill_recv), kicking only when
// VIRTIO_RING_F_EVENT_IDX says the device waits, and completes NAPI by
// re-arming the interrupt and re-checking the ring
// (virtqueue_napi_complete). Receive buffers are pool buffers of which
// only the length Linux would post is offered (mergeable buffers,
// VIRTIO_NET_F_MRG_RXBUF: get_mergeable_buf_len's EWMA, 1536 bytes with a
// 1500-byte MTU), and each frame is charged the truesize Linux's skb for
// it would have (1280 up to 128 bytes, 1792 up to 1204, 2816 beyond; see
// truesize.go); a frame the device spreads
// over several buffers is copied into a LargePool buffer or dropped. When
// the pool is empty the ring drains and a timer retries the refill every
// RefillRetry (refill_work), without spinning.
//
// # Transmit
//
// Transmit is start_xmit behind a pfifo qdisc of TxQueueLen frames: it
// reclaims completions, posts one descriptor (header and frame), stops the
// queue when the ring is full, and kicks unless event index suppresses it.
// Completions are reclaimed in Transmit, in the receive poll
// (virtnet_poll_cleantx) and by a transmit NAPI scheduled from the
// completion interrupt (skb_xmit_done, napi_tx), which is armed with
// virtqueue_enable_cb_delayed's three-quarter threshold; it wakes the
// queue and drains the backlog. With the link down frames are dropped.
//
// # Faults
//
// A device that writes a used id out of range, names a descriptor that is
// not in flight (never posted, or returned twice), moves used->idx further
// than the buffers in flight, resets itself or sets DEVICE_NEEDS_RESET is
// detected, counted (Stats.Faults), reported (Err, LastFault, the OnFault
// callback) and its queue is no longer used, as Linux's vq->broken; a used
// length beyond the buffer drops that frame only. Nothing the device
// writes can make the driver panic, write outside a buffer, or free a
// buffer twice. Reset reinitialises the device, returns every buffer it
// held to its pool, refills and resumes; Check polls the status register
// for a device that reset itself silently.
//
// # Differences from Linux v6.8
//
//   - One buffer per descriptor, no indirect descriptors, one queue pair,
//     no control queue, no GSO/TSO: the features negotiated are
//     VERSION_1, MAC, STATUS, EVENT_IDX, MRG_RXBUF and GUEST_CSUM only.
//   - XDP (SetXDP) runs a Go program (package xdp), not BPF. With no
//     control queue the guest checksum offloads cannot be turned off
//     while it is attached (virtnet_clear_guest_offloads): DATA_VALID is
//     ignored instead. XDP_TX shares the one send queue with the stack;
//     a multi-buffer frame is seen linearised, without headroom; buffers
//     posted before a program was attached are not copied to gain
//     headroom (xdp_linearize_page).
//   - AF_XDP zero-copy (SetXSKPool) follows Linux 6.10's virtio-net
//     (v6.8 has none): binding or unbinding resets the whole device, not
//     one queue (the MMIO transport has no queue reset); a frame of
//     several buffers is dropped; frames to send are copied.
//   - Mergeable frames of several buffers are linearised into a LargePool
//     buffer instead of chained as page fragments. Frames stay in their
//     pool buffer: a small one is not copied into a napi_alloc_skb head,
//     it is only charged as if it were.
//   - A virtio_net_hdr with a GSO type is a frame error (rx_frame_errors):
//     no GSO feature was negotiated. num_buffers 0 drops that buffer
//     (rx_length_errors) instead of consuming the whole used ring.
//   - get_buf also refuses a used->idx that moved past the buffers in
//     flight (FaultUsedIdx), tells a returned-twice id from a never-posted
//     one, and virtqueue_enable_cb_delayed reports success on a broken
//     queue so that reclaim loops cannot spin on it.
//   - The transmit queue stops when no descriptor is left (each frame
//     takes exactly one) rather than below 2+MAX_SKB_FRAGS.
//   - Configuration changes are handled in the interrupt goroutine instead
//     of a workqueue, and also check the status register for
//     DEVICE_NEEDS_RESET (Linux's virtio-mmio ignores it). An interrupt
//     with no cause reads the status register too; a zero status is not
//     acknowledged.
//   - No GRO: frames are delivered one by one, in order.
//
// See ring.go for the memory ordering between driver and device.
package virtio
