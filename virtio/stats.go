package virtio

import (
	"fmt"
	"strings"
)

// RxQueueStats are the receive queue's counters (ethtool -S
// rx_queue_0_*).
type RxQueueStats struct {
	Packets uint64 // frames taken from the ring, drops included
	Bytes   uint64 // frame bytes the device reported, without headers
	Drops   uint64 // frames dropped by receive_mergeable/receive_small
	Kicks   uint64 // notifications sent after refills
	Calls   uint64 // interrupts that found used buffers (skb_recv_done)
	Posted  int    // buffers in the ring now
	Size    int    // ring size
	// BufLen is the mergeable buffer length last computed from the
	// packet-length EWMA (sysfs mergeable_rx_buffer_size); 0 without
	// mergeable buffers.
	BufLen int
	// XDP (ethtool -S rx_queue_0_xdp_*): frames the attached program
	// ran on, and those it returned XDP_TX and XDP_REDIRECT on, and
	// those dropped: XDP_DROP, XDP_ABORTED, an unknown action or a
	// failed redirect (counted in Drops too).
	XDPPackets, XDPTx, XDPRedirects, XDPDrops uint64
	// Zero-copy AF_XDP (SetXSKPool): frames the device wrote into UMEM
	// frames, and those of them copied out for the stack or XDP_TX.
	XSKPackets, XSKCopies uint64
}

// TxQueueStats are the transmit queue's counters (ethtool -S
// tx_queue_0_*, plus the qdisc's).
type TxQueueStats struct {
	Packets uint64 // frames the device has sent (counted on reclaim)
	Bytes   uint64
	Kicks   uint64 // notifications sent (VM exits under QEMU)
	// Xmit counts frames posted to the ring, XmitMore those of them
	// posted without notifying the device because more followed
	// (netdev_xmit_more); Kicks/Xmit is notifications per frame.
	Xmit         uint64
	XmitMore     uint64
	Calls        uint64 // interrupts that found completions (skb_xmit_done)
	Stops        uint64 // ring full: queue stopped
	Wakes        uint64 // queue restarted after a stop
	BacklogDrops uint64 // dropped with txqueuelen frames already queued
	LinkDrops    uint64 // dropped or purged with the carrier off
	Backlog      int    // frames waiting in the qdisc now
	InFlight     int    // frames in the ring now
	Stopped      bool
	Size         int
	// XDP_TX frames handed to the queue (tx_queue_0_xdp_tx) and those
	// it could not send: no descriptor free, or no headroom left for
	// the virtio-net header (tx_queue_0_xdp_tx_drops).
	XDPTx, XDPTxDrops uint64
}

// Stats are a device's counters, mirroring Linux's.
type Stats struct {
	RX RxQueueStats
	TX TxQueueStats
	// Device counters of rtnl_link_stats64. rx_dropped, which
	// __netif_receive_skb_core counts, is the stack's (link.rx_dropped).
	RxLengthErrors uint64
	RxFrameErrors  uint64
	RxDropped      uint64 // frames passed with no stack (AddRxDropped)
	TxDropped      uint64
	TxFifoErrors   uint64
	// Interrupts counts handler runs; Spurious those with no cause.
	Interrupts, Spurious uint64
	ConfigChanges        uint64
	// Faults counts device faults by FaultKind.
	Faults     [NumFaultKinds]uint64
	Resets     uint64
	RefillRuns uint64 // refill_work runs (the pool had run dry)
	// XDPExceptions counts trace_xdp_exception: XDP_ABORTED, an
	// unknown action, a failed redirect.
	XDPExceptions uint64
	LinkUp        bool
}

// Stats returns a snapshot of the device's counters.
func (d *Net) Stats() Stats {
	s := Stats{
		RX: RxQueueStats{
			Packets: d.rx.packets.Load(),
			Bytes:   d.rx.bytes.Load(),
			Drops:   d.rx.drops.Load(),
			Kicks:   d.rx.kicks.Load(),
			Calls:   d.rx.calls.Load(),
			Posted:  int(d.rx.vq.inFlight.Load()),
			Size:    int(d.rx.vq.num),
			BufLen:  int(d.rx.bufLen.Load()),

			XDPPackets:   d.rx.xdpPackets.Load(),
			XDPTx:        d.rx.xdpTx.Load(),
			XDPRedirects: d.rx.xdpRedirects.Load(),
			XDPDrops:     d.rx.xdpDrops.Load(),
			XSKPackets:   d.rx.xskPackets.Load(),
			XSKCopies:    d.rx.xskCopies.Load(),
		},
		RxLengthErrors: d.c.rxLengthErrors.Load(),
		RxFrameErrors:  d.c.rxFrameErrors.Load(),
		RxDropped:      d.c.rxDropped.Load(),
		TxDropped:      d.c.txDropped.Load(),
		TxFifoErrors:   d.c.txFifoErrors.Load(),
		Interrupts:     d.c.interrupts.Load(),
		Spurious:       d.c.spurious.Load(),
		ConfigChanges:  d.c.configChanges.Load(),
		Resets:         d.c.resets.Load(),
		RefillRuns:     d.c.refillRuns.Load(),
		XDPExceptions:  d.c.xdpExceptions.Load(),
		LinkUp:         d.link.Load(),
	}
	for i := range s.Faults {
		s.Faults[i] = d.c.faults[i].Load()
	}
	q := &d.tx
	q.mu.Lock()
	s.TX = TxQueueStats{
		Packets:      q.packets,
		Bytes:        q.bytes,
		Kicks:        q.kicks,
		Xmit:         q.xmit,
		XmitMore:     q.xmitMore,
		Calls:        q.calls.Load(),
		Stops:        q.stops,
		Wakes:        q.wakes,
		BacklogDrops: q.backlogDrops,
		LinkDrops:    q.linkDrops,
		Backlog:      q.backlog.Len(),
		InFlight:     int(q.vq.num) - q.vq.numFree,
		Stopped:      q.stopped != 0,
		Size:         int(q.vq.num),
		XDPTx:        q.xdpTx,
		XDPTxDrops:   q.xdpTxDrops,
	}
	q.mu.Unlock()
	return s
}

// FaultCount returns the total of all fault counters.
func (s Stats) FaultCount() uint64 {
	var n uint64
	for _, v := range s.Faults {
		n += v
	}
	return n
}

// String renders the counters as ethtool -S and ip -s link name them.
func (s Stats) String() string {
	var b strings.Builder
	link := "down"
	if s.LinkUp {
		link = "up"
	}
	fmt.Fprintf(&b, "link %s interrupts %d spurious %d config_changes %d resets %d refill_runs %d\n",
		link, s.Interrupts, s.Spurious, s.ConfigChanges, s.Resets, s.RefillRuns)
	fmt.Fprintf(&b, "rx_queue_0: packets %d bytes %d drops %d kicks %d calls %d posted %d/%d mergeable_rx_buffer_size %d\n",
		s.RX.Packets, s.RX.Bytes, s.RX.Drops, s.RX.Kicks, s.RX.Calls, s.RX.Posted, s.RX.Size, s.RX.BufLen)
	fmt.Fprintf(&b, "tx_queue_0: packets %d bytes %d kicks %d xmit %d xmit_more %d calls %d stops %d wakes %d in_flight %d/%d backlog %d backlog_drops %d link_drops %d\n",
		s.TX.Packets, s.TX.Bytes, s.TX.Kicks, s.TX.Xmit, s.TX.XmitMore, s.TX.Calls, s.TX.Stops, s.TX.Wakes, s.TX.InFlight, s.TX.Size, s.TX.Backlog, s.TX.BacklogDrops, s.TX.LinkDrops)
	fmt.Fprintf(&b, "xdp: rx_queue_0_xdp_packets %d rx_queue_0_xdp_tx %d rx_queue_0_xdp_redirects %d rx_queue_0_xdp_drops %d tx_queue_0_xdp_tx %d tx_queue_0_xdp_tx_drops %d exceptions %d xsk_zerocopy %d xsk_copies %d\n",
		s.RX.XDPPackets, s.RX.XDPTx, s.RX.XDPRedirects, s.RX.XDPDrops, s.TX.XDPTx, s.TX.XDPTxDrops, s.XDPExceptions,
		s.RX.XSKPackets, s.RX.XSKCopies)
	fmt.Fprintf(&b, "rx_length_errors %d rx_frame_errors %d rx_dropped %d tx_dropped %d tx_fifo_errors %d\n",
		s.RxLengthErrors, s.RxFrameErrors, s.RxDropped, s.TxDropped, s.TxFifoErrors)
	b.WriteString("faults:")
	for k, v := range s.Faults {
		fmt.Fprintf(&b, " %s %d", FaultKind(k), v)
	}
	b.WriteByte('\n')
	return b.String()
}
