package napi

import (
	"github.com/kaidoku-net/kaidoku/irq"
)

// Interrupt wraps a device's interrupt handler in irq_enter/irq_exit: a
// NAPI scheduled while the handler runs is not handed to the softnet
// goroutine (raise_softirq_irqoff does not wake ksoftirqd in interrupt
// context); instead, when the handler returns, net_rx_action runs right
// there, in the interrupt goroutine, as Linux runs pending softirqs on
// irq_exit (kernel/softirq.c: invoke_softirq). Work left when the budget
// or the time limit runs out goes to the softnet goroutine, the
// ksoftirqd of this design. This saves a goroutine hand-off between the
// hard interrupt and the poll on every interrupt.
func (s *Softnet) Interrupt(h irq.Handler) irq.Handler {
	return func(t0 int64) {
		s.mu.Lock()
		s.inIRQ++
		s.mu.Unlock()
		h(t0)
		s.irqExit()
	}
}

// irqExit is irq_exit → invoke_softirq → __do_softirq for NET_RX.
func (s *Softnet) irqExit() {
	s.mu.Lock()
	s.inIRQ--
	run := s.inIRQ == 0 && !s.inAction && !s.pollList.Empty()
	s.mu.Unlock()
	if !run {
		return
	}
	s.c.irqExitRuns.Add(1)
	left := s.netRxAction()
	if left || s.busyPollNs > 0 {
		// wakeup_softirqd; with busy polling the goroutine also owns the
		// window after the list drains.
		select {
		case s.doorbell <- struct{}{}:
		default:
		}
	}
}
