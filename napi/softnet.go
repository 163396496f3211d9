package napi

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kaidoku-net/kaidoku/ilist"
)

// Defaults of the net.core sysctls that bound one net_rx_action run.
const (
	// DefaultBudget is net.core.netdev_budget.
	DefaultBudget = 300
	// DefaultBudgetNs is net.core.netdev_budget_usecs (2 jiffies at
	// HZ=1000), in nanoseconds.
	DefaultBudgetNs = 2_000_000
)

// Config configures a Softnet.
type Config struct {
	// Budget is the packets one net_rx_action run may process before it
	// yields (netdev_budget). 0 means DefaultBudget.
	Budget int
	// BudgetNs is the time one run may take before it yields
	// (netdev_budget_usecs). 0 means DefaultBudgetNs.
	BudgetNs int64
	// Now is the clock, in nanoseconds; the same clock as the hard-IRQ
	// timestamps. nil means time.Now().UnixNano().
	Now func() int64
	// BusyPollNs, when positive, keeps the goroutine polling the NAPIs
	// marked with SetBusyPoll for up to this long after the poll list
	// drains, yielding the CPU between polls, before it blocks. This
	// avoids halting the vCPU (about 200 µs to wake under QEMU TCG) at
	// the price of burning the CPU meanwhile. 0, the default, is off:
	// an idle softnet blocks at once.
	BusyPollNs int64
}

// Softnet is one CPU's softnet_data and its NET_RX softirq: the poll list
// and the goroutine that runs net_rx_action over it.
type Softnet struct {
	budget     int
	budgetNs   int64
	busyPollNs int64
	now        func() int64

	mu sync.Mutex
	// +checklocks:mu
	pollList napiList
	// inAction is sd->in_net_rx_action.
	// +checklocks:mu
	inAction bool
	// inIRQ is the nesting of Interrupt wrappers: in_interrupt().
	// +checklocks:mu
	inIRQ int
	// +checklocks:mu
	napis []*NAPI

	doorbell chan struct{}
	stop     chan struct{}
	stopOnce sync.Once

	c softnetCounters
}

type softnetCounters struct {
	processed, dropped, timeSqueeze atomic.Uint64
	actions, wakeups, busyLoops     atomic.Uint64
	irqExitRuns                     atomic.Uint64
}

// NewSoftnet creates an idle softnet. Start its goroutine with Run.
func NewSoftnet(cfg Config) *Softnet {
	s := &Softnet{
		budget:     cfg.Budget,
		budgetNs:   cfg.BudgetNs,
		busyPollNs: cfg.BusyPollNs,
		now:        cfg.Now,
		doorbell:   make(chan struct{}, 1),
		stop:       make(chan struct{}),
	}
	if s.budget <= 0 {
		s.budget = DefaultBudget
	}
	if s.budgetNs <= 0 {
		s.budgetNs = DefaultBudgetNs
	}
	if s.now == nil {
		s.now = func() int64 { return time.Now().UnixNano() }
	}
	return s
}

// Now returns the softnet's clock.
func (s *Softnet) Now() int64 { return s.now() }

// NewNAPI adds a NAPI instance polled by poll with the given weight
// (netif_napi_add_weight; weight <= 0 means Weight). It starts disabled:
// call Enable.
func (s *Softnet) NewNAPI(name string, poll PollFunc, weight int) *NAPI {
	if weight <= 0 {
		weight = Weight
	}
	n := &NAPI{sn: s, poll: poll, weight: weight, name: name, disableWake: make(chan struct{}, 1)}
	n.state.Store(stateSched | stateNPSVC)
	s.mu.Lock()
	s.napis = append(s.napis, n)
	s.mu.Unlock()
	return n
}

// schedule is ____napi_schedule: queue n at the tail of the poll list and
// raise the softirq unless net_rx_action is running and will see it, or
// an interrupt handler is running and will run it on irq_exit.
func (s *Softnet) schedule(n *NAPI) {
	n.c.schedules.Add(1)
	s.mu.Lock()
	s.pollList.PushBack(n)
	n.onList = true
	ring := !s.inAction && s.inIRQ == 0
	s.mu.Unlock()
	if ring {
		select {
		case s.doorbell <- struct{}{}:
		default:
		}
	}
	if n.state.Load()&stateDisable != 0 {
		n.wakeDisabler()
	}
}

// unlist takes n off the poll list if it is waiting there.
func (s *Softnet) unlist(n *NAPI) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !n.onList {
		return false
	}
	s.pollList.Remove(n)
	n.onList = false
	return true
}

// Run is the softirq goroutine: it runs net_rx_action whenever the poll
// list is not empty, yields the CPU between runs that were cut short by
// the budget (as ksoftirqd would take over), and otherwise blocks until a
// NAPI is scheduled. It returns after Stop. Run one per Softnet, and do
// not mix it with RunOnce.
func (s *Softnet) Run() {
	for {
		s.mu.Lock()
		empty := s.pollList.Empty()
		s.mu.Unlock()
		if empty {
			select {
			case <-s.doorbell:
				s.c.wakeups.Add(1)
				continue
			case <-s.stop:
				return
			}
		}
		select {
		case <-s.stop:
			return
		default:
		}
		if s.netRxAction() {
			runtime.Gosched()
		} else if s.busyPollNs > 0 {
			s.busyPoll()
		}
	}
}

// RunOnce runs net_rx_action once if any NAPI is scheduled, without
// blocking, and reports whether there was work. For tests and for callers
// that drive the softnet from a loop of their own instead of Run.
func (s *Softnet) RunOnce() bool {
	s.mu.Lock()
	empty := s.pollList.Empty()
	s.mu.Unlock()
	if empty {
		return false
	}
	s.netRxAction()
	return true
}

// Stop makes Run return. Scheduled NAPIs stay queued.
func (s *Softnet) Stop() {
	s.stopOnce.Do(func() { close(s.stop) })
}

// netRxAction is net_rx_action. It reports whether work is left on the
// poll list (the run was squeezed, or NAPIs asked to be polled again).
func (s *Softnet) netRxAction() bool {
	s.c.actions.Add(1)
	timeLimit := s.now() + s.budgetNs
	budget := s.budget
	var list, repoll napiList
	for {
		s.mu.Lock()
		s.inAction = true
		s.takePollListLocked(&list)
		s.mu.Unlock()
		again := false
		for {
			if list.Empty() {
				if repoll.Empty() {
					s.mu.Lock()
					s.inAction = false
					again = !s.pollList.Empty()
					s.mu.Unlock()
					if again {
						break
					}
					return false
				}
				break
			}
			n := list.PopFront()
			budget -= s.napiPoll(n, &repoll)
			if budget <= 0 || s.now() >= timeLimit {
				s.c.timeSqueeze.Add(1)
				break
			}
		}
		if !again {
			break
		}
	}
	// Unpolled NAPIs first, then those scheduled meanwhile, then repoll.
	s.mu.Lock()
	s.takePollListLocked(&list)
	list.SpliceBack(&repoll)
	left := !list.Empty()
	for n := list.Front(); n != nil; n = ilist.Next(n) {
		n.onList = true
		if n.state.Load()&stateDisable != 0 {
			n.wakeDisabler()
		}
	}
	s.pollList = list
	if !left {
		s.inAction = false
	}
	s.mu.Unlock()
	return left
}

// takePollListLocked appends the poll list to l and empties it.
//
// +checklocks:s.mu
func (s *Softnet) takePollListLocked(l *napiList) {
	for n := s.pollList.Front(); n != nil; n = ilist.Next(n) {
		n.onList = false
	}
	l.SpliceBack(&s.pollList)
}

// napiPoll is napi_poll and __napi_poll: poll n with its weight, and queue
// it on repoll if it used the whole weight and so still owns its work.
func (s *Softnet) napiPoll(n *NAPI, repoll *napiList) int {
	work := 0
	if n.state.Load()&stateSched != 0 {
		n.beginPoll(s.now())
		work = n.poll(n, n.weight)
		n.account(work)
	}
	if work < n.weight {
		return work
	}
	if n.state.Load()&stateDisable != 0 {
		n.Complete()
		return work
	}
	n.c.repolls.Add(1)
	n.cont = true
	repoll.PushBack(n)
	return work
}

// busyPoll is napi_busy_loop over the busy-poll NAPIs, for up to
// busyPollNs after the poll list drained. It owns each NAPI it can claim
// (SCHED|IN_BUSY_POLL), so that the driver keeps its interrupts off
// while it polls, and gives them back with busyPollStop.
func (s *Softnet) busyPoll() {
	s.mu.Lock()
	napis := s.napis
	s.mu.Unlock()
	var held uint64 // bit i: napis[i] is owned by this loop
	start := s.now()
	deadline := start + s.busyPollNs
	now := start
	for now < deadline {
		s.c.busyLoops.Add(1)
		for i, n := range napis {
			if i >= 64 || !n.busy.Load() {
				continue
			}
			if held&(1<<i) == 0 {
				val := n.state.Load()
				if val&(stateDisable|stateSched|stateInBusyPoll) != 0 {
					continue
				}
				if !n.state.CompareAndSwap(val, val|stateSched|stateInBusyPoll) {
					continue
				}
				held |= 1 << i
			}
			if n.state.Load()&stateDisable != 0 {
				s.busyPollStop(n)
				held &^= 1 << i
				continue
			}
			n.t0, n.t1, n.cont = now, now, false
			work := n.poll(n, n.weight)
			n.account(work)
			n.c.busyPolls.Add(1)
			n.c.busyPackets.Add(uint64(work))
		}
		s.mu.Lock()
		pending := !s.pollList.Empty()
		s.mu.Unlock()
		if pending {
			break
		}
		select {
		case <-s.stop:
			deadline = now
		default:
		}
		runtime.Gosched()
		now = s.now()
	}
	for i, n := range napis {
		if i < 64 && held&(1<<i) != 0 {
			s.busyPollStop(n)
		}
	}
}

// busyPollStop is busy_poll_stop: give up busy-poll ownership of n, then
// poll it once more so that the driver completes it and re-enables its
// interrupts; if that poll used the whole weight, queue it normally.
func (s *Softnet) busyPollStop(n *NAPI) {
	n.state.And(^uint32(stateMissed | stateInBusyPoll))
	// Interrupts that came meanwhile were folded into the busy polling.
	now := s.now()
	n.pendingT0.Store(0)
	n.t0, n.t1, n.cont = now, now, false
	work := n.poll(n, n.weight)
	n.account(work)
	if work >= n.weight {
		n.cont = true
		s.schedule(n)
	}
}

// AddProcessed counts packets that went through __netif_receive_skb_core
// (softnet_stat column 1, "processed"); the network stack calls it.
func (s *Softnet) AddProcessed(n uint64) { s.c.processed.Add(n) }

// AddDropped counts packets dropped for want of backlog room (softnet_stat
// column 2, "dropped"; never on the pure NAPI path).
func (s *Softnet) AddDropped(n uint64) { s.c.dropped.Add(n) }

// napiList is a list of NAPIs linked through NAPI.link (the poll_list
// of struct softnet_data and net_rx_action's local lists).
type napiList = ilist.List[*NAPI]
