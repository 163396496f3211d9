package napi

import (
	"fmt"
	"math/bits"
	"strings"
)

// HistogramBuckets is the number of packets-per-poll buckets: 0, 1, 2-3,
// 4-7, 8-15, 16-31, 32-63 and 64 or more (a full-weight poll).
const HistogramBuckets = 8

// Histogram counts polls by the packets each processed.
type Histogram [HistogramBuckets]uint64

// BucketLabel names bucket i.
func BucketLabel(i int) string {
	switch {
	case i <= 0:
		return "0"
	case i == 1:
		return "1"
	case i >= HistogramBuckets-1:
		return fmt.Sprintf("%d+", 1<<(HistogramBuckets-2))
	}
	return fmt.Sprintf("%d-%d", 1<<(i-1), 1<<i-1)
}

func bucket(work int) int {
	if work <= 0 {
		return 0
	}
	b := bits.Len(uint(work))
	if b > HistogramBuckets-1 {
		b = HistogramBuckets - 1
	}
	return b
}

// NAPIStats are one NAPI's counters.
type NAPIStats struct {
	Name   string
	Weight int
	// Interrupts counts SchedulePrep calls that carried a hard-IRQ time.
	Interrupts uint64
	// Schedules counts queueings on the poll list (__napi_schedule).
	Schedules uint64
	// Missed counts SchedulePrep calls that found the NAPI already owned
	// and set MISSED instead.
	Missed uint64
	// Polls and Packets count poll calls and the work they returned.
	Polls, Packets uint64
	// Repolls counts full-weight polls left on the list for another round.
	Repolls uint64
	// BusyPolls and BusyPollPackets count polls made by the busy-poll
	// window and their work (LINUX_MIB_BUSYPOLLRXPACKETS).
	BusyPolls, BusyPollPackets uint64
	// OverWeight counts polls that returned more than the weight (a
	// driver bug Linux warns about).
	OverWeight uint64
	// Hist counts polls by packets processed.
	Hist Histogram
}

// Stats are a softnet's counters, with its NAPIs'.
type Stats struct {
	// Processed is softnet_stat column 1, counted by the network stack
	// through AddProcessed.
	Processed uint64
	// Dropped is softnet_stat column 2 (AddDropped).
	Dropped uint64
	// TimeSqueeze is softnet_stat column 3: net_rx_action runs that
	// stopped with work left because the budget or time ran out.
	TimeSqueeze uint64
	// Actions counts net_rx_action runs.
	Actions uint64
	// Wakeups counts times the idle goroutine was woken by the doorbell.
	Wakeups uint64
	// IRQExitRuns counts net_rx_action runs on interrupt exit (Interrupt).
	IRQExitRuns uint64
	// BusyPollLoops counts iterations of the busy-poll window.
	BusyPollLoops uint64
	NAPIs         []NAPIStats
}

// Stats returns a snapshot of the softnet's counters.
func (s *Softnet) Stats() Stats {
	st := Stats{
		Processed:     s.c.processed.Load(),
		Dropped:       s.c.dropped.Load(),
		TimeSqueeze:   s.c.timeSqueeze.Load(),
		Actions:       s.c.actions.Load(),
		Wakeups:       s.c.wakeups.Load(),
		IRQExitRuns:   s.c.irqExitRuns.Load(),
		BusyPollLoops: s.c.busyLoops.Load(),
	}
	s.mu.Lock()
	napis := s.napis
	s.mu.Unlock()
	for _, n := range napis {
		st.NAPIs = append(st.NAPIs, n.Stats())
	}
	return st
}

// SoftnetStat renders the line /proc/net/softnet_stat shows for this CPU
// (net/core/net-procfs.c: softnet_seq_show): 15 hex columns, processed,
// dropped and time_squeeze first, the CPU index (0) in column 13.
func (st Stats) SoftnetStat() string {
	return fmt.Sprintf("%08x %08x %08x %08x %08x %08x %08x %08x %08x %08x %08x %08x %08x %08x %08x",
		uint32(st.Processed), uint32(st.Dropped), uint32(st.TimeSqueeze),
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
}

// String renders a short table: the softnet counters, then one line per
// NAPI with its packets-per-poll histogram.
func (st Stats) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "softnet: processed %d dropped %d time_squeeze %d runs %d (on irq exit %d) wakeups %d busy_loops %d\n",
		st.Processed, st.Dropped, st.TimeSqueeze, st.Actions, st.IRQExitRuns, st.Wakeups, st.BusyPollLoops)
	fmt.Fprintf(&b, "%-10s %6s %10s %10s %8s %10s %12s %8s %10s", "napi", "weight", "irqs", "scheds", "missed", "polls", "packets", "repolls", "busy_pkts")
	for i := 0; i < HistogramBuckets; i++ {
		fmt.Fprintf(&b, " %8s", BucketLabel(i))
	}
	b.WriteByte('\n')
	for _, n := range st.NAPIs {
		fmt.Fprintf(&b, "%-10s %6d %10d %10d %8d %10d %12d %8d %10d", n.Name, n.Weight, n.Interrupts, n.Schedules, n.Missed, n.Polls, n.Packets, n.Repolls, n.BusyPollPackets)
		for _, h := range n.Hist {
			fmt.Fprintf(&b, " %8d", h)
		}
		b.WriteByte('\n')
	}
	return b.String()
}
