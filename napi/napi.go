// Package napi is kaidoku's NAPI: the napi_struct a driver polls its rings
// from, and the softirq-style goroutine that runs the polls, modelled on
// net/core/dev.c of Linux v6.8.
//
// A Softnet is one CPU's softnet_data: a poll list, the net_rx_action loop
// (budget 300 packets or 2 ms per run, time_squeeze when either runs out,
// full-weight NAPIs repolled at the tail) and its counters. A NAPI is one
// napi_struct: a poll function with a weight (64), and a state word whose
// SCHED and MISSED bits make scheduling from the interrupt path idempotent
// without ever losing an interrupt that races with a running poll.
//
// Wiring, as the image does it:
//
//	sn := napi.NewSoftnet(napi.Config{Now: board.Nanotime})
//	dev, _ := virtio.NewNet(regs, mem, virtio.NetConfig{Softnet: sn, ...})
//	go sn.Run()
//
// The driver creates its NAPI instances with Softnet.NewNAPI
// (netif_napi_add_weight), enables them (napi_enable), schedules them from
// its interrupt handler with SchedulePrep/SchedulePrepared or Schedule
// (napi_schedule_prep, __napi_schedule, napi_schedule) and, when a poll
// did less than its weight, completes with CompleteDone
// (napi_complete_done).
//
// Run blocks on a one-slot doorbell channel whenever the poll list is
// empty: an idle Softnet costs nothing. Config.BusyPollNs optionally keeps
// the goroutine polling the busy-poll NAPIs for a while after the list
// drains (Linux's napi_busy_loop), trading CPU for the cost of waking a
// halted vCPU; it is off by default.
//
// Timestamps: SchedulePrep(t0) records the hard-IRQ time t0; the poll
// started for that interrupt sees it as T0, and the time the poll started
// as T1 (ARCHITECTURE.md). Polls that continue an interrupt's work (a full-weight
// repoll, or a reschedule for MISSED) keep that T0; polls no interrupt
// asked for have T0 0, except busy polls, whose T0 is the busy-poll
// iteration that found the work (equal to T1).
package napi

import (
	"sync/atomic"

	"github.com/kaidoku-net/kaidoku/ilist"
)

// Weight is NAPI_POLL_WEIGHT, the per-poll packet limit virtio-net uses.
const Weight = 64

// State bits of napi_struct.state (include/linux/netdevice.h), at Linux's
// bit positions.
const (
	stateSched      = 1 << 0 // NAPI_STATE_SCHED: owned by a poller, or queued
	stateMissed     = 1 << 1 // NAPI_STATE_MISSED: scheduled again while owned
	stateDisable    = 1 << 2 // NAPI_STATE_DISABLE: napi_disable pending
	stateNPSVC      = 1 << 3 // NAPI_STATE_NPSVC: held disabled
	stateInBusyPoll = 1 << 6 // NAPI_STATE_IN_BUSY_POLL: owned by a busy poller
)

// PollFunc is napi_struct.poll: process at most budget packets and return
// how many were processed. A poll that returns less than budget must
// complete the NAPI (CompleteDone) itself; one that returns budget must
// not touch the NAPI's state, and is polled again.
type PollFunc func(n *NAPI, budget int) int

// NAPI is one napi_struct. Create it with Softnet.NewNAPI.
type NAPI struct {
	state  atomic.Uint32
	sn     *Softnet
	poll   PollFunc
	weight int
	name   string
	busy   atomic.Bool

	// Linkage on the softnet's lists. onList (on sn.pollList) is guarded
	// by sn.mu; link belongs to whichever list holds the NAPI.
	link   ilist.Entry[*NAPI]
	onList bool

	// pendingT0 is the first hard-IRQ time not yet seen by a poll.
	pendingT0 atomic.Int64
	// t0, t1 and cont belong to the goroutine running the softnet.
	t0, t1 int64
	cont   bool

	disableWake chan struct{}

	c napiCounters
}

type napiCounters struct {
	interrupts, schedules, missed      atomic.Uint64
	polls, packets, repolls            atomic.Uint64
	busyPolls, busyPackets, overWeight atomic.Uint64
	hist                               [HistogramBuckets]atomic.Uint64
}

// Name returns the name given at creation.
func (n *NAPI) Name() string { return n.name }

// Weight returns the NAPI's weight, the budget each poll is given.
func (n *NAPI) Weight() int { return n.weight }

// T0 returns the hard-IRQ time of the interrupt that led to the current
// poll (0 if none did). Valid inside the poll function.
func (n *NAPI) T0() int64 { return n.t0 }

// T1 returns the time the current poll started. Valid inside the poll
// function.
func (n *NAPI) T1() int64 { return n.t1 }

// SetBusyPoll marks n as one the softnet may busy-poll after its poll list
// drains (Config.BusyPollNs). Receive NAPIs set it; transmit-completion
// NAPIs need not.
func (n *NAPI) SetBusyPoll(on bool) { n.busy.Store(on) }

// Scheduled reports whether the NAPI is currently owned by a poller,
// queued, or disabled (napi_is_scheduled).
func (n *NAPI) Scheduled() bool { return n.state.Load()&stateSched != 0 }

// SchedulePrep claims the right to schedule n (napi_schedule_prep). It
// returns false if n is being disabled, or if n was already scheduled, in
// which case it sets MISSED so that the poll that owns n runs once more.
// t0 is the hard-IRQ time when called from an interrupt handler, 0
// otherwise. It is one atomic read-modify-write: cheap and idempotent.
func (n *NAPI) SchedulePrep(t0 int64) bool {
	if t0 != 0 {
		n.c.interrupts.Add(1)
		n.pendingT0.CompareAndSwap(0, t0)
	}
	val := n.state.Load()
	for {
		if val&stateDisable != 0 {
			return false
		}
		nv := val | stateSched
		if val&stateSched != 0 {
			nv |= stateMissed
		}
		if n.state.CompareAndSwap(val, nv) {
			break
		}
		val = n.state.Load()
	}
	if val&stateSched != 0 {
		n.c.missed.Add(1)
		return false
	}
	return true
}

// SchedulePrepared queues n on its softnet's poll list and wakes the
// softnet (__napi_schedule). Call it only after SchedulePrep returned
// true.
func (n *NAPI) SchedulePrepared() { n.sn.schedule(n) }

// Schedule is napi_schedule: SchedulePrep, then SchedulePrepared if it
// succeeded. It reports whether n was queued.
func (n *NAPI) Schedule(t0 int64) bool {
	if !n.SchedulePrep(t0) {
		return false
	}
	n.sn.schedule(n)
	return true
}

// CompleteDone is napi_complete_done: the poll did work < weight and n
// goes idle. If an interrupt set MISSED meanwhile, n stays scheduled, is
// queued again and CompleteDone returns false; the driver must then keep
// its interrupts disabled. It also returns false, without effect, while a
// busy poller owns n.
func (n *NAPI) CompleteDone(work int) bool {
	val := n.state.Load()
	if val&(stateNPSVC|stateInBusyPoll) != 0 {
		return false
	}
	for {
		nv := val &^ (stateMissed | stateSched)
		if val&stateMissed != 0 {
			nv |= stateSched
		}
		if n.state.CompareAndSwap(val, nv) {
			break
		}
		val = n.state.Load()
	}
	if val&stateMissed != 0 {
		n.cont = true
		n.sn.schedule(n)
		return false
	}
	if val&stateDisable != 0 {
		n.wakeDisabler()
	}
	return true
}

// Complete is napi_complete: CompleteDone with no work.
func (n *NAPI) Complete() bool { return n.CompleteDone(0) }

// Disable waits until no poll owns n and holds it disabled (napi_disable):
// interrupts can no longer schedule it (they set MISSED), and the caller
// may touch the driver's queue as its owner until Enable. A NAPI waiting
// on the poll list of a softnet that is not running is taken off the
// list. It blocks without spinning. It must not be called from the
// softnet's own goroutine while that goroutine polls n.
func (n *NAPI) Disable() {
	n.state.Or(stateDisable)
	for {
		val := n.state.Load()
		if val&(stateSched|stateNPSVC) == 0 {
			if n.state.CompareAndSwap(val, val|stateSched|stateNPSVC) {
				break
			}
			continue
		}
		if val&stateNPSVC == 0 && n.sn.unlist(n) {
			// Queued but not being polled: the disabler now owns it.
			n.state.Or(stateNPSVC)
			break
		}
		<-n.disableWake
	}
	n.state.And(^uint32(stateDisable))
}

// Enable releases a NAPI held by Disable (napi_enable). A new NAPI starts
// disabled, as netif_napi_add leaves it. The driver usually schedules n
// once after enabling it, for work that arrived meanwhile.
func (n *NAPI) Enable() {
	for {
		val := n.state.Load()
		if n.state.CompareAndSwap(val, val&^(stateSched|stateNPSVC)) {
			if val&stateDisable != 0 {
				n.wakeDisabler() // a Disable was waiting for this
			}
			return
		}
	}
}

func (n *NAPI) wakeDisabler() {
	select {
	case n.disableWake <- struct{}{}:
	default:
	}
}

// beginPoll stamps T0 and T1 for a poll starting at t1.
func (n *NAPI) beginPoll(t1 int64) {
	t0 := n.pendingT0.Swap(0)
	if t0 == 0 && n.cont {
		t0 = n.t0
	}
	n.t0, n.t1, n.cont = t0, t1, false
}

// account records one poll that did work packets.
func (n *NAPI) account(work int) {
	n.c.polls.Add(1)
	n.c.packets.Add(uint64(work))
	n.c.hist[bucket(work)].Add(1)
	if work > n.weight {
		n.c.overWeight.Add(1)
	}
}

// Stats returns a snapshot of n's counters.
func (n *NAPI) Stats() NAPIStats {
	s := NAPIStats{
		Name:            n.name,
		Weight:          n.weight,
		Interrupts:      n.c.interrupts.Load(),
		Schedules:       n.c.schedules.Load(),
		Missed:          n.c.missed.Load(),
		Polls:           n.c.polls.Load(),
		Packets:         n.c.packets.Load(),
		Repolls:         n.c.repolls.Load(),
		BusyPolls:       n.c.busyPolls.Load(),
		BusyPollPackets: n.c.busyPackets.Load(),
		OverWeight:      n.c.overWeight.Load(),
	}
	for i := range s.Hist {
		s.Hist[i] = n.c.hist[i].Load()
	}
	return s
}

// Links returns the entry n is linked through on a softnet's lists
// (ilist.Linker).
func (n *NAPI) Links() *ilist.Entry[*NAPI] { return &n.link }
