package ether

import (
	"sync/atomic"

	"github.com/kaidoku-net/kaidoku/netstack/skb"
)

// netstamp is net/core/dev.c's netstamp_needed_key: the number of
// sockets that want software receive timestamps (SO_TIMESTAMP,
// SO_TIMESTAMPNS, or SO_TIMESTAMPING with SOF_TIMESTAMPING_RX_SOFTWARE).
// While it is zero no packet is stamped and the receive path reads no
// clock. Linux flips a static key from a work item, so its first enable
// takes effect a little later; here it takes effect at once.
type netstamp struct {
	wanted atomic.Int32
	// realtime is ktime_get_real: CLOCK_REALTIME in ns.
	realtime func() int64
}

// SetRealtime sets the clock receive timestamps are read from
// (ktime_get_real: ns since the Unix epoch). Call it before the first
// frame.
func (n *Net) SetRealtime(f func() int64) { n.stamp.realtime = f }

// NetEnableTimestamp is dev.c: net_enable_timestamp: one more socket
// wants receive timestamps.
func (n *Net) NetEnableTimestamp() { n.stamp.wanted.Add(1) }

// NetDisableTimestamp is dev.c: net_disable_timestamp.
func (n *Net) NetDisableTimestamp() { n.stamp.wanted.Add(-1) }

// TimestampsWanted reports whether any socket wants receive timestamps
// (static_branch_unlikely(&netstamp_needed_key)).
func (n *Net) TimestampsWanted() bool { return n.stamp.wanted.Load() > 0 }

// Realtime returns CLOCK_REALTIME in ns (ktime_get_real), the clock
// receive timestamps are taken on.
func (n *Net) Realtime() int64 { return n.stamp.realtime() }

// netTimestampCheck is dev.c's net_timestamp_check with
// netdev_tstamp_prequeue at its default (1): when some socket wants
// timestamps, stamp a packet that has none. It is called where Linux
// calls it with that setting: netif_receive_skb (before the packet
// enters the stack) and netif_rx (before it is queued on the backlog).
func (n *Net) netTimestampCheck(b *skb.Buffer) {
	if n.stamp.wanted.Load() > 0 && b.Tstamp == 0 {
		b.Tstamp = n.stamp.realtime()
	}
}
