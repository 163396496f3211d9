package virtio

// Interrupt is the device's interrupt handler (an irq.Handler): t0 is the
// hard-IRQ time. It is vm_interrupt: read InterruptStatus and acknowledge
// it, handle a configuration change, and run vring_interrupt for each
// queue with used entries: skb_recv_done for receive, which only turns
// the queue's interrupts off and schedules the receive NAPI, and
// skb_xmit_done for transmit completions, which schedules the transmit
// NAPI. Under QEMU TCG the status read and the acknowledge are one VM
// exit each; nothing else here touches the device.
//
// Unlike vm_interrupt it does not write a zero acknowledge, and on an
// interrupt with no cause it reads the device status to catch a device
// that reset itself.
func (d *Net) Interrupt(t0 int64) {
	if d.closed.Load() {
		return
	}
	d.irqMu.Lock()
	d.c.interrupts.Add(1)
	st := d.t.regs.Read32(RegInterruptStatus)
	if st == 0 {
		d.c.spurious.Add(1)
		d.checkStatus(d.t.getStatus())
		d.irqMu.Unlock()
		return
	}
	d.t.regs.Write32(RegInterruptACK, st)
	changed, up := false, false
	if st&InterruptConfig != 0 {
		changed, up = d.virtnetConfigChanged()
	}
	if st&InterruptVring != 0 {
		if d.rx.vq.vringInterrupt() {
			d.skbRecvDone(t0)
		}
		if d.tx.vq.vringInterrupt() {
			d.skbXmitDone(t0)
		}
	}
	d.irqMu.Unlock()
	if changed && d.cfg.OnLink != nil {
		d.cfg.OnLink(up)
	}
}

// skbRecvDone is skb_recv_done, the receive queue's interrupt callback.
func (d *Net) skbRecvDone(t0 int64) {
	d.rx.calls.Add(1)
	virtqueueNapiSchedule(d.rx.napi, d.rx.vq, t0)
}

// virtnetConfigChanged is virtio_config_changed with
// virtnet_config_changed_work run inline: check the device status for
// DEVICE_NEEDS_RESET, then read the link status and start or stop the
// transmit queue (netif_carrier_on/off: with the carrier off Linux's noop
// qdisc drops, so queued frames are purged). It reports whether the link
// changed. irqMu held.
func (d *Net) virtnetConfigChanged() (changed, up bool) {
	d.c.configChanges.Add(1)
	d.checkStatus(d.t.getStatus())
	if !d.has(FeatureNetStatus) {
		return false, true
	}
	v, ok := d.t.config16(NetConfigStatus)
	if !ok {
		return false, d.link.Load()
	}
	up = v&NetSLinkUp != 0
	if d.link.Swap(up) == up {
		return false, up
	}
	q := &d.tx
	q.mu.Lock()
	if up {
		q.stopped &^= stopLink
		if q.stopped == 0 {
			d.qdiscRun()
		}
	} else {
		q.stopped |= stopLink
		q.linkDrops += uint64(q.backlog.Purge())
	}
	q.mu.Unlock()
	return true, up
}
