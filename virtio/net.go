package virtio

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kaidoku-net/kaidoku/napi"
	"github.com/kaidoku-net/kaidoku/netstack/skb"
	"github.com/kaidoku-net/kaidoku/xdp"
)

// Frame geometry.
const (
	ethHlen       = 14                 // ETH_HLEN
	mtu           = 1500               // the device offers no VIRTIO_NET_F_MTU
	goodPacketLen = ethHlen + 4 + 1500 // GOOD_PACKET_LEN: small-buffer limit
)

// Defaults of NetConfig.
const (
	DefaultQueueSize   = 256
	DefaultTxQueueLen  = 1000                   // txqueuelen of a pfifo qdisc
	DefaultRefillRetry = 500 * time.Millisecond // refill_work's HZ/2
	DefaultTxCleanup   = 10 * time.Millisecond
)

// Errors returned by NewNet, Transmit and Reset.
var (
	ErrClosed      = errors.New("virtio: device closed")
	ErrLinkDown    = errors.New("virtio: link down: frame dropped")                        // +checklocksignore: immutable
	ErrTxQueueFull = errors.New("virtio: transmit queue full (txqueuelen): frame dropped") // +checklocksignore: immutable
	ErrNoHeadroom  = errors.New("virtio: frame lacks headroom for the virtio-net header")
	ErrNotDMA      = errors.New("virtio: buffer has no bus address (pool not in DMA memory)")
	ErrQueueBroken = errBroken
)

// NetConfig configures a Net.
type NetConfig struct {
	// RxPool supplies the receive buffers, one per descriptor (2048
	// bytes in the image). With mergeable buffers only the length Linux
	// would post is offered to the device (see addRecvbufMergeable), at
	// most the whole buffer. Its storage must be DMA memory (see
	// PoolMemory). Required.
	RxPool *skb.Pool
	// LargePool, if set, supplies buffers into which a frame the device
	// spread over several receive buffers (num_buffers > 1) is copied.
	// Without it such frames are dropped (rx_length_errors).
	LargePool *skb.Pool
	// Deliver receives every good frame, Data() starting at the Ethernet
	// header; it owns the buffer from then on. It runs in the softnet
	// goroutine (netif_receive_skb's place). An XDP program (SetXDP)
	// sees the frame first. Required.
	Deliver func(*skb.Buffer)
	// Ifindex is stamped on received buffers (skb->skb_iif).
	Ifindex int
	// Softnet runs the NAPI polls. nil: NewNet creates one, which the
	// caller starts with go dev.Softnet().Run().
	Softnet *napi.Softnet
	// Now is the clock of a softnet NewNet creates (nil: time.Now).
	Now func() int64
	// QueueSize caps the ring size the device offers (0: 256). Rounded
	// down to a power of two.
	QueueSize int
	// TxQueueLen bounds the frames held while the transmit ring is full
	// (0: 1000, as txqueuelen).
	TxQueueLen int
	// RefillRetry is how soon a refill that found the pool empty is
	// retried (0: 500 ms, as refill_work).
	RefillRetry time.Duration
	// OnLink, if set, is called with the new link state when a
	// configuration interrupt changes it. It runs in the interrupt
	// goroutine and must not block.
	OnLink func(up bool)
	// OnFault, if set, is called with every device fault detected (a
	// *Fault). It runs in whichever goroutine found the fault (interrupt,
	// softnet, or a transmitter, possibly with the refill work waiting)
	// and must not block nor call Reset, Close or Check itself: start a
	// goroutine for that.
	OnFault func(error)
	// MAC is used when the device does not offer VIRTIO_NET_F_MAC; zero
	// means a random locally administered address (eth_hw_addr_random).
	MAC [6]byte
	// Name prefixes the NAPI names (default "virtio-net").
	Name string
	// NapiTx reclaims transmit completions in a NAPI poll driven by a
	// transmit interrupt: Linux's napi_tx=1, its default. Without it
	// (napi_tx=0) completions are reclaimed on the next transmit and in
	// the receive poll, and the transmit interrupt is armed only while
	// the ring is full. Under QEMU TCG every interrupt costs an
	// InterruptStatus read and an acknowledge write, each waiting for
	// QEMU's global lock; at 26,000 echoes/s that was a quarter of the
	// guest's CPU, half of it for transmit interrupts that found nothing
	// to do. The image therefore runs with napi_tx=0.
	NapiTx bool
	// TxCleanup is how long, without napi_tx, sent frames may wait for
	// reclaim when no further transmit or receive poll comes to do it: a
	// timer, armed at most once per period while frames are in flight,
	// reclaims them (the transmit cleanup timer of drivers that run
	// without transmit interrupts). Default DefaultTxCleanup.
	TxCleanup time.Duration
	// NoTrace leaves received frames unstamped: Trace.T0 and T1 of the
	// buffers handed to Deliver, and T0 of the XDP buffer, stay 0, so a
	// stack records no latency for them. It is the driver's half of
	// turning the latency trace off (netstack.Config.NoLatencyTrace),
	// to measure what the trace costs. The clock reads stay: T0 is the
	// hard-IRQ time the interrupt path takes anyway (NAPI counts
	// interrupts by it), T1 the poll start the softnet reads for its
	// time budget.
	NoTrace bool
	// DeviceFence makes the driver read a device register after it
	// re-arms a queue's interrupt (storing used_event) and before it
	// checks used->idx once more. Linux relies on virtio_mb there; QEMU
	// TCG with one vCPU does not emit guest barriers on the host, so
	// the store and the device's update of used->idx can pass each
	// other and both sides miss: the device sees the old used_event and
	// raises no interrupt, the driver sees the old used->idx and
	// completes NAPI, and the queue stalls with the ring full. A
	// register access is served under the lock QEMU's device model
	// holds, which orders the two. Notification has the same shape
	// (the driver stores avail->idx and reads avail_event, the device
	// stores avail_event and reads avail->idx), so when avail_event
	// says not to notify, the driver reads the register and asks again.
	// Set it
	// under TCG only: with KVM the barrier is real and the read would be
	// a VM exit for nothing.
	DeviceFence bool
}

// Net is a virtio-net device on a virtio-mmio transport: drivers/net/
// virtio_net.c with one queue pair, mergeable receive buffers, receive
// NAPI, and transmit completions either in NAPI too (napi_tx=1, Linux's
// default) or reclaimed without interrupts (napi_tx=0; see NetConfig).
//
// # Lock order
//
// Net has four mutexes. A goroutine holding one takes only those below
// it:
//
//	ctlMu    Reset, Close, Check and the refill work (the control path)
//	irqMu    the interrupt handler against a reset (synchronize_irq)
//	tx.mu    the transmit queue: ring, backlog, stop bits, counters
//	         (netif_tx_lock)
//	faultMu  the fault record (Err, LastFault)
//
// The NAPI and pool locks come after all four (napi.NAPI.Disable runs
// under ctlMu, buffers are freed under irqMu and tx.mu). OnFault may be
// called with irqMu or tx.mu held and OnLink with none; neither may
// call Reset, Close or Check.
type Net struct {
	cfg       NetConfig
	t         *mmio
	mem       Memory
	sn        *napi.Softnet
	ownSn     bool // +checklocksignore: fixed at NewNet
	features  uint64
	hdrLen    int
	mergeable bool
	mac       [6]byte
	startIdx  uint16 // test hook: ring indices start here

	rx rxQueue
	tx txQueue

	// The lock order is in Net's doc.
	irqMu sync.Mutex
	ctlMu sync.Mutex
	// +checklocks:ctlMu
	napiDisabled bool

	closed        atomic.Bool
	link          atomic.Bool
	statusFault   atomic.Bool // a reset/NEEDS_RESET was reported since Reset
	refillTimer   *time.Timer
	cleanupTimer  *time.Timer
	cleanupArmed  atomic.Bool
	refillPending atomic.Bool
	refillEnabled atomic.Bool

	faultMu sync.Mutex
	// +checklocks:faultMu
	err error
	// +checklocks:faultMu
	lastFault error

	c devCounters
}

type rxQueue struct {
	vq                                  *virtqueue
	napi                                *napi.NAPI
	packets, bytes, drops, kicks, calls atomic.Uint64

	// Mergeable buffer sizing, owned by whoever owns the NAPI (the poll,
	// or the refill work and Reset with it disabled): mrg_avg_pkt_len,
	// min_buf_len, and the offset into the page fragment
	// add_recvbuf_mergeable carves buffers from (rq->alloc_frag).
	avgPktLen  ewmaPktLen
	minBufLen  int
	fragOffset int
	bufLen     atomic.Int32 // get_mergeable_buf_len at the last refill, for Stats

	// XDP: the attached program (rq->xdp_prog), the poll counter SetXDP
	// waits on, and, owned by the poll, the xdp_buff, the XDP_TX frames
	// and the redirect targets to flush.
	xdp                                       atomic.Pointer[xdpProg]
	xdpHeadroom                               atomic.Int32 // in front of buffers posted from now on
	pollSeq                                   atomic.Uint64
	xbuff                                     xdp.Buff
	xdpTxQ                                    skb.Queue
	xdpFlush                                  []xdp.Target
	xdpPackets, xdpTx, xdpRedirects, xdpDrops atomic.Uint64

	// AF_XDP zero-copy (rq->xsk_pool): the frames of the bound socket's
	// UMEM, posted instead of RxPool buffers, and the batch AllocBatch
	// fills. Changed only with the poll held off (SetXSKPool), read by
	// whoever owns the NAPI.
	xsk     xdp.FramePool
	xskBufs []*skb.Buffer
	// Frames received into UMEM frames, and those of them copied out
	// for the stack or XDP_TX (xsk_construct_skb).
	xskPackets, xskCopies atomic.Uint64
}

// Reasons the transmit queue is stopped (netif_tx_stop_queue and friends).
const (
	stopXoff   = 1 << iota // ring full (__QUEUE_STATE_DRV_XOFF)
	stopLink               // carrier off
	stopDetach             // device detached for reset
)

// txStopThreshold is the free descriptors below which the queue stops.
// Linux uses 2+MAX_SKB_FRAGS because a frame may take that many; here a
// frame always takes exactly one.
const txStopThreshold = 1

type txQueue struct {
	vq    *virtqueue
	napi  *napi.NAPI
	calls atomic.Uint64

	mu sync.Mutex // netif_tx_lock
	// +checklocks:mu
	stopped uint8
	// +checklocks:mu
	backlog skb.Queue // the pfifo qdisc
	// Counters.
	// +checklocks:mu
	packets uint64
	// +checklocks:mu
	bytes uint64
	// +checklocks:mu
	kicks uint64
	// +checklocks:mu
	stops uint64
	// +checklocks:mu
	wakes uint64
	// +checklocks:mu
	backlogDrops uint64
	// +checklocks:mu
	linkDrops uint64
	// Frames posted to the ring, and those of them posted without a
	// kick (xmit_more).
	// +checklocks:mu
	xmit uint64
	// +checklocks:mu
	xmitMore uint64
	// XDP frames offered (XDP_TX), and those not sent.
	// +checklocks:mu
	xdpTx uint64
	// +checklocks:mu
	xdpTxDrops uint64
}

type devCounters struct {
	rxLengthErrors, rxFrameErrors, rxDropped atomic.Uint64
	txDropped, txFifoErrors                  atomic.Uint64
	interrupts, spurious, configChanges      atomic.Uint64
	resets, refillRuns, xdpExceptions        atomic.Uint64
	faults                                   [NumFaultKinds]atomic.Uint64
}

// PoolMemory adapts a Memory to the storage function of skb.NewPool, so
// that packet buffers live where the device can reach them and carry
// their bus addresses.
func PoolMemory(m Memory) skb.Memory {
	return func(n int) ([]byte, uint64, error) { return m.Alloc(n, 64) }
}

// NewNet probes the virtio-mmio transport regs, negotiates features, sets
// up the receive and transmit rings in mem, fills the receive ring and
// enables NAPI (virtio_mmio_probe, virtio_dev_probe, virtnet_probe and
// virtnet_open). Register dev.Interrupt for the device's interrupt and
// run the softnet; frames then arrive through cfg.Deliver.
func NewNet(regs Registers, mem Memory, cfg NetConfig) (*Net, error) {
	return newNet(regs, mem, cfg, 0)
}

func newNet(regs Registers, mem Memory, cfg NetConfig, startIdx uint16) (*Net, error) {
	if cfg.RxPool == nil {
		return nil, errors.New("virtio: NetConfig.RxPool is required")
	}
	if cfg.Deliver == nil {
		return nil, errors.New("virtio: NetConfig.Deliver is required")
	}
	for _, p := range []*skb.Pool{cfg.RxPool, cfg.LargePool} {
		if p == nil {
			continue
		}
		b := p.Get()
		if b == nil {
			return nil, fmt.Errorf("virtio: pool %s is empty", p.Name())
		}
		addr := b.Addr()
		b.Free()
		if addr == 0 {
			return nil, fmt.Errorf("virtio: pool %s: %w", p.Name(), ErrNotDMA)
		}
	}
	if cfg.RxPool.Size() < NetHdrLen+ethHlen {
		return nil, fmt.Errorf("virtio: receive buffers of %d bytes are too small", cfg.RxPool.Size())
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = DefaultQueueSize
	}
	if cfg.TxQueueLen <= 0 {
		cfg.TxQueueLen = DefaultTxQueueLen
	}
	if cfg.TxCleanup <= 0 {
		cfg.TxCleanup = DefaultTxCleanup
	}
	if cfg.RefillRetry <= 0 {
		cfg.RefillRetry = DefaultRefillRetry
	}
	if cfg.Name == "" {
		cfg.Name = "virtio-net"
	}
	t, id, err := vmProbe(regs)
	if err != nil {
		return nil, err
	}
	if id != DeviceIDNet {
		return nil, fmt.Errorf("virtio: device %d is not a network device", id)
	}
	d := &Net{cfg: cfg, t: t, mem: mem, startIdx: startIdx}
	if err := d.initDevice(true); err != nil {
		return nil, err
	}
	if !d.mergeable && cfg.RxPool.Size() < NetHdrLen+goodPacketLen {
		d.t.addStatus(StatusFailed)
		return nil, fmt.Errorf("virtio: device lacks VIRTIO_NET_F_MRG_RXBUF and %d-byte buffers cannot hold a full frame", cfg.RxPool.Size())
	}
	d.sn = cfg.Softnet
	if d.sn == nil {
		d.sn = napi.NewSoftnet(napi.Config{Now: cfg.Now})
		d.ownSn = true
	}
	d.rx.napi = d.sn.NewNAPI(cfg.Name+"-rx", d.virtnetPoll, napi.Weight)
	d.rx.napi.SetBusyPoll(true)
	if cfg.NapiTx {
		d.tx.napi = d.sn.NewNAPI(cfg.Name+"-tx", d.virtnetPollTx, napi.Weight)
	}
	d.refillTimer = time.AfterFunc(time.Hour, d.refillWork)
	d.refillTimer.Stop()
	d.cleanupTimer = time.AfterFunc(time.Hour, d.txCleanup)
	d.cleanupTimer.Stop()
	if !d.link.Load() {
		d.tx.stopped |= stopLink
	}
	d.virtnetOpen()
	return d, nil
}

// initDevice takes the device from reset to DRIVER_OK: status
// ACKNOWLEDGE and DRIVER, feature negotiation, FEATURES_OK (checked), the
// two queues, MAC and link status, DRIVER_OK. On a re-initialisation the
// rings are reused and must keep their size and features.
func (d *Net) initDevice(first bool) error {
	t := d.t
	if err := t.reset(); err != nil {
		return err
	}
	t.addStatus(StatusAcknowledge)
	t.addStatus(StatusDriver)
	offered := t.getFeatures()
	if offered&(1<<FeatureVersion1) == 0 {
		t.addStatus(StatusFailed)
		return fmt.Errorf("virtio: device does not offer VIRTIO_F_VERSION_1 (features %#x)", offered)
	}
	f := offered & NetFeatures
	if !first && f != d.features {
		t.addStatus(StatusFailed)
		return fmt.Errorf("virtio: features changed across reset: %#x, was %#x", f, d.features)
	}
	t.finalizeFeatures(f)
	t.addStatus(StatusFeaturesOK)
	if t.getStatus()&StatusFeaturesOK == 0 {
		t.addStatus(StatusFailed)
		return fmt.Errorf("virtio: device refused features %#x", f)
	}
	d.features = f
	d.hdrLen = NetHdrLen // VERSION_1: always virtio_net_hdr_mrg_rxbuf size
	d.mergeable = d.has(FeatureNetMrgRxbuf)

	for i, q := range []**virtqueue{&d.rx.vq, &d.tx.vq} {
		index := uint16(i)
		max, err := t.queueNumMax(index)
		if err != nil {
			t.addStatus(StatusFailed)
			return err
		}
		num := min(max, d.cfg.QueueSize)
		for num&(num-1) != 0 {
			num &= num - 1
		}
		name := [2]string{"rx", "tx"}[i]
		if first {
			vq, err := newVirtqueue(name, index, num, d.mem)
			if err != nil {
				t.addStatus(StatusFailed)
				return err
			}
			*q = vq
		} else if int((*q).num) != num {
			t.addStatus(StatusFailed)
			return fmt.Errorf("virtio: %s queue size changed across reset: %d, was %d", name, num, (*q).num)
		}
		vq := *q
		vq.init(d.startIdx)
		vq.event = d.has(FeatureEventIdx)
		vq.notify = t.notify
		vq.onFault = d.ringFault
		vq.deviceFence = nil
		if d.cfg.DeviceFence {
			// Reading a register is side-effect free, and QEMU serves it
			// under the lock its device model holds.
			vq.deviceFence = func() { t.regs.Read32(RegInterruptStatus) }
		}
		t.activateQueue(vq)
	}

	if d.mergeable {
		d.rx.minBufLen = mergeableMinBufLen(d.hdrLen, int(d.rx.vq.num))
	}

	if d.has(FeatureNetMAC) {
		if !t.configBytes(NetConfigMAC, d.mac[:]) {
			t.addStatus(StatusFailed)
			return errors.New("virtio: configuration kept changing while reading the MAC")
		}
	} else if first {
		d.mac = d.cfg.MAC
		if d.mac == ([6]byte{}) {
			v := rand.Uint64()
			for i := range d.mac {
				d.mac[i] = byte(v >> (8 * i))
			}
		}
		d.mac[0] = d.mac[0]&^1 | 2 // unicast, locally administered
	}
	up := true
	if d.has(FeatureNetStatus) {
		v, ok := t.config16(NetConfigStatus)
		up = ok && v&NetSLinkUp != 0
	}
	d.link.Store(up)
	t.addStatus(StatusDriverOK)
	return nil
}

func (d *Net) has(bit uint) bool { return d.features&(1<<bit) != 0 }

// virtnetOpen is virtnet_open: fill the receive ring, then enable NAPI.
func (d *Net) virtnetOpen() {
	d.refillEnabled.Store(true)
	if !d.tryFillRecv() {
		d.scheduleRefill(0)
	}
	d.virtnetNapiEnable(d.rx.napi, d.rx.vq)
	if d.tx.napi != nil {
		d.virtnetNapiEnable(d.tx.napi, d.tx.vq)
	} else {
		d.tx.mu.Lock()
		d.tx.vq.virtqueueDisableCb()
		d.tx.mu.Unlock()
	}
}

// virtnetNapiEnable is virtnet_napi_enable: enable, then poll once for
// whatever the device completed meanwhile.
func (d *Net) virtnetNapiEnable(n *napi.NAPI, vq *virtqueue) {
	n.Enable()
	virtqueueNapiSchedule(n, vq, 0)
}

// virtqueueNapiSchedule is virtqueue_napi_schedule: claim the NAPI, turn
// the queue's interrupts off, queue the poll.
func virtqueueNapiSchedule(n *napi.NAPI, vq *virtqueue, t0 int64) {
	if n.SchedulePrep(t0) {
		vq.virtqueueDisableCb()
		n.SchedulePrepared()
	}
}

// scheduleRefill is schedule_delayed_work(&vi->refill, delay): nothing if
// a refill is already pending or refill is disabled.
func (d *Net) scheduleRefill(delay time.Duration) {
	if !d.refillEnabled.Load() {
		return
	}
	if d.refillPending.CompareAndSwap(false, true) {
		d.refillTimer.Reset(delay)
	}
}

// refillWork is refill_work: with NAPI held off, fill the receive ring;
// retry after RefillRetry if the pool ran dry again.
func (d *Net) refillWork() {
	d.ctlMu.Lock()
	defer d.ctlMu.Unlock()
	d.refillPending.Store(false)
	if !d.refillEnabled.Load() || d.napiDisabled {
		return
	}
	d.c.refillRuns.Add(1)
	d.rx.napi.Disable()
	stillEmpty := !d.tryFillRecv()
	d.virtnetNapiEnable(d.rx.napi, d.rx.vq)
	if stillEmpty {
		d.scheduleRefill(d.cfg.RefillRetry)
	}
}

// ringFault receives BAD_RING reports from the queues.
func (d *Net) ringFault(f *Fault) { d.fault(f) }

// fault counts and reports a device fault.
func (d *Net) fault(f *Fault) {
	d.c.faults[f.Kind].Add(1)
	d.faultMu.Lock()
	d.lastFault = f
	if f.Kind.Fatal() && d.err == nil {
		d.err = f
	}
	d.faultMu.Unlock()
	if cb := d.cfg.OnFault; cb != nil {
		cb(f)
	}
}

// checkStatus reports a device that reset itself or wants a reset, once
// per Reset, and stops using its queues (virtio_break_device).
func (d *Net) checkStatus(st uint8) {
	var kind FaultKind
	switch {
	case st&StatusNeedsReset != 0:
		kind = FaultNeedsReset
	case st&StatusDriverOK == 0:
		kind = FaultDeviceReset
	default:
		return
	}
	if !d.statusFault.CompareAndSwap(false, true) {
		return
	}
	d.rx.vq.broken.Store(true)
	d.tx.vq.broken.Store(true)
	d.fault(&Fault{Kind: kind, Status: st})
}

// Err returns the first fatal fault since the device was (re)initialised,
// or nil while it is healthy. After one the device stops using the broken
// queue(s) until Reset.
func (d *Net) Err() error {
	d.faultMu.Lock()
	defer d.faultMu.Unlock()
	return d.err
}

// LastFault returns the most recent fault of any kind, fatal or not.
func (d *Net) LastFault() error {
	d.faultMu.Lock()
	defer d.faultMu.Unlock()
	return d.lastFault
}

// Check reads the device status register and reports a device that reset
// itself or set DEVICE_NEEDS_RESET without the driver noticing yet (the
// interrupt path looks only on configuration and spurious interrupts). It
// returns Err. A supervisor may call it periodically; it costs one
// register read.
func (d *Net) Check() error {
	d.ctlMu.Lock()
	defer d.ctlMu.Unlock()
	if d.closed.Load() {
		return ErrClosed
	}
	d.irqMu.Lock()
	d.checkStatus(d.t.getStatus())
	d.irqMu.Unlock()
	return d.Err()
}

// Reset recovers the device: it detaches the transmit queue (frames wait
// in the backlog), holds both NAPIs off, resets the device, frees every
// buffer the rings held back to its pool, renegotiates the same features,
// sets the rings up again from scratch, refills the receive ring and
// resumes (virtnet_freeze_down, remove_vq_common, virtnet_restore_up).
// Faults are cleared. It must not be called from the softnet goroutine
// or from a callback of this device. On error the device stays stopped;
// Reset may be tried again.
func (d *Net) Reset() error {
	d.ctlMu.Lock()
	wasUp, up, err := d.resetLocked(nil)
	d.ctlMu.Unlock()
	if err == nil && up != wasUp && d.cfg.OnLink != nil {
		d.cfg.OnLink(up)
	}
	return err
}

// resetLocked is Reset under ctlMu: it returns the link status before
// and after. rebind, if set, runs once the device is reset and every
// buffer taken back, before the rings are filled again (where
// virtnet_xsk_pool_enable swaps the queue's buffer source).
//
// +checklocks:d.ctlMu
func (d *Net) resetLocked(rebind func()) (wasUp, up bool, err error) {
	if d.closed.Load() {
		return false, false, ErrClosed
	}
	d.c.resets.Add(1)
	err = d.quiesceLocked(false, func(err error) error {
		wasUp = d.link.Load()
		if err != nil {
			return err
		}
		d.faultMu.Lock()
		d.err = nil
		d.faultMu.Unlock()
		d.statusFault.Store(false)
		if rebind != nil {
			rebind()
		}
		return d.initDevice(false)
	})
	if err != nil {
		return wasUp, wasUp, err
	}

	d.virtnetOpen()
	d.napiDisabled = false
	up = d.link.Load()
	d.tx.mu.Lock()
	d.tx.stopped &^= stopDetach | stopXoff | stopLink // netif_device_attach
	if !up {
		d.tx.stopped |= stopLink
		d.tx.linkDrops += uint64(d.tx.backlog.Purge())
	}
	if d.tx.stopped == 0 {
		d.qdiscRun()
	}
	d.tx.mu.Unlock()
	return wasUp, up, nil
}

// quiesceLocked is the part of Reset (virtnet_freeze_down,
// remove_vq_common) and Close (virtnet_remove) that stops the device:
// refill work and the cleanup timer off, the transmit queue detached
// (its backlog dropped and counted as tx_dropped when purge is set, kept
// for after the reset otherwise), both NAPIs held off, then, with the
// interrupt handler and the transmit path shut out, the device reset and
// every buffer the rings held taken back. after runs with the reset's
// error while they are still shut out, and its result is returned.
//
// +checklocks:d.ctlMu
func (d *Net) quiesceLocked(purge bool, after func(resetErr error) error) error {
	d.refillEnabled.Store(false)
	d.refillTimer.Stop()
	d.cleanupTimer.Stop()
	d.cleanupArmed.Store(false)
	d.refillPending.Store(false)
	d.tx.mu.Lock()
	d.tx.stopped |= stopDetach // netif_device_detach
	if purge {
		d.c.txDropped.Add(uint64(d.tx.backlog.Purge()))
	}
	d.tx.mu.Unlock()
	if !d.napiDisabled {
		d.rx.napi.Disable()
		if d.tx.napi != nil {
			d.tx.napi.Disable()
		}
		d.napiDisabled = true
	}
	d.irqMu.Lock()
	defer d.irqMu.Unlock()
	d.tx.mu.Lock()
	defer d.tx.mu.Unlock()
	err := d.t.reset()
	d.freeUnusedBufs()
	return after(err)
}

// freeUnusedBufs is free_unused_bufs: after a device reset, take back and
// free every buffer still posted. Both queues must be owned.
func (d *Net) freeUnusedBufs() {
	for b := d.rx.vq.detachUnusedBufSplit(); b != nil; b = d.rx.vq.detachUnusedBufSplit() {
		d.rxFree(b)
	}
	d.rx.vq.publishInFlight()
	for b := d.tx.vq.detachUnusedBufSplit(); b != nil; b = d.tx.vq.detachUnusedBufSplit() {
		b.Free()
	}
	d.tx.vq.publishInFlight()
}

// Close stops the device for good (virtnet_remove): NAPI off, device
// reset, every buffer it held and every queued frame freed. A softnet
// NewNet created is stopped too.
func (d *Net) Close() error {
	d.ctlMu.Lock()
	defer d.ctlMu.Unlock()
	if d.closed.Swap(true) {
		return nil
	}
	err := d.quiesceLocked(true, func(err error) error { return err })
	if d.ownSn {
		d.sn.Stop()
	}
	return err
}

// MAC returns the device's MAC address.
func (d *Net) MAC() [6]byte { return d.mac }

// MTU returns the device MTU (1500: VIRTIO_NET_F_MTU is not negotiated).
func (d *Net) MTU() int { return mtu }

// Headroom returns the bytes a transmitted frame needs in front of its
// Ethernet header, where Transmit puts the virtio-net header.
func (d *Net) Headroom() int { return NetHdrLen }

// LinkUp reports the link status last read from the device.
func (d *Net) LinkUp() bool { return d.link.Load() }

// Features returns the negotiated feature bits.
func (d *Net) Features() uint64 { return d.features }

// Softnet returns the softnet that runs this device's NAPI polls.
func (d *Net) Softnet() *napi.Softnet { return d.sn }

// AddRxDropped counts frames dropped after the driver delivered them with
// no protocol to take them (the device's rx_dropped, as
// __netif_receive_skb_core increments it for an unhandled protocol): the
// frames an XDP program passes when no stack is attached.
func (d *Net) AddRxDropped(n uint64) { d.c.rxDropped.Add(n) }
