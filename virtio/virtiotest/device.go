// Package virtiotest is a virtio-net device behind a virtio-mmio (version
// 2) transport, written in Go for host tests of the driver in package
// virtio: what QEMU's hw/virtio/virtio-mmio.c, hw/virtio/virtio.c and
// hw/net/virtio-net.c do, reduced to what the driver uses, over a
// *virtio.Region instead of guest RAM.
//
// Device implements virtio.Registers: the status state machine, feature
// negotiation (FEATURES_OK is refused for features it did not offer),
// queue registers, a configuration space with the MAC and link status,
// InterruptStatus/InterruptACK and QueueNotify. It resolves every address
// the driver gives it with Region.Slice, bounds-checked, consumes avail
// entries, writes used entries, honours VIRTIO_RING_F_EVENT_IDX both ways
// (it interrupts only when used_event asks, and publishes avail_event
// after each entry it takes, as QEMU's virtqueue_pop does) and raises an
// *irq.Line.
//
// The device does its work synchronously in the goroutine that asks for
// it: Inject delivers a frame into the receive ring at once if buffers
// are posted (else it waits, as in QEMU's queue, until the driver posts
// some and kicks); a transmit notification sends every posted frame
// before QueueNotify returns, unless transmission is paused (PauseTX),
// which lets tests fill the ring. Misbehave queues one-shot faults for
// the next used entries; ResetMidFlight and NeedsReset break the device
// as a whole.
package virtiotest

import (
	"encoding/binary"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/kaidoku-net/kaidoku/irq"
	"github.com/kaidoku-net/kaidoku/virtio"
)

// DefaultFeatures is what the device offers by default: everything the
// driver implements plus some it must refuse.
const DefaultFeatures = virtio.NetFeatures | 1<<virtio.FeatureNetCsum |
	1<<virtio.FeatureNetGuestTSO4 | 1<<virtio.FeatureNetCtrlVQ |
	1<<virtio.FeatureNetMQ | 1<<virtio.FeatureIndirectDesc

// Config configures a Device.
type Config struct {
	// Region is the memory the driver's rings and buffers live in.
	Region *virtio.Region
	// Line is raised for interrupts; it may also be set later (SetLine).
	Line *irq.Line
	// MAC is the address in the configuration space.
	MAC [6]byte
	// QueueNumMax is the size offered for each queue (0: 256).
	QueueNumMax int
	// Features are the feature bits offered (0: DefaultFeatures).
	Features uint64
	// Version is the transport version register (0: 2).
	Version uint32
	// DeviceID is the device ID register (0: 1, network).
	DeviceID uint32
	// LinkDown starts the device with the link down.
	LinkDown bool
	// RxQueueLimit is the number of injected frames held while the
	// driver has no receive buffers posted (0: 256); more are dropped.
	RxQueueLimit int
	// StartIdx starts both rings' indices there instead of 0, to test
	// wrap-around (pair with the driver's test hook).
	StartIdx uint16
	// RefuseFeatures makes the device refuse FEATURES_OK.
	RefuseFeatures bool
	// OnTX, if set, receives every transmitted frame instead of the
	// device keeping a copy for TakeTX. The slice is valid only during the
	// call, which runs with the device locked: it must not use the device.
	OnTX func(frame []byte)
}

// Queue numbers.
const (
	RX = 0
	TX = 1
)

// Kind is a kind of misbehaviour.
type Kind int

// Misbehaviours, each applied once to the next used entry (or flush) of
// the queue it names.
const (
	// UsedID writes Value as the used entry's id (out of range, or an id
	// that was never posted).
	UsedID Kind = iota
	// UsedLen writes Value as the used entry's length.
	UsedLen
	// UsedDuplicate writes the used entry twice, and in exchange never
	// returns the buffers of the next frame (so used->idx stays within
	// what was posted).
	UsedDuplicate
	// UsedIdxJump advances used->idx by Value more than it wrote.
	UsedIdxJump
	// NumBuffers writes Value as the header's num_buffers (receive).
	NumBuffers
)

// Misbehaviour is a one-shot fault.
type Misbehaviour struct {
	Queue int
	Kind  Kind
	Value uint32
}

// RxOptions describe how an injected frame is received.
type RxOptions struct {
	// Flags are the virtio_net_hdr flags (virtio.NetHdrFDataValid,
	// virtio.NetHdrFNeedsCsum).
	Flags                 uint8
	GSOType               uint8
	CsumStart, CsumOffset uint16
	// MaxPerBuffer, if positive, caps the bytes written into each buffer,
	// forcing a frame over several buffers (num_buffers > 1).
	MaxPerBuffer int
}

// Stats are the device's counters.
type Stats struct {
	Notifies       [2]uint64 // QueueNotify writes per queue
	Interrupts     uint64    // interrupts raised
	RxDelivered    uint64    // frames written into the receive ring
	RxDropped      uint64    // frames dropped (queue full, not ready, too big)
	RxPending      int       // frames waiting for receive buffers
	TxFrames       uint64    // frames transmitted
	BadDescriptors uint64    // addresses outside the region and the like
	Resets         uint64    // status writes of 0
}

type queue struct {
	num                  uint32
	ready                bool
	desc, driver, device uint64
	descB, availB, usedB []byte
	lastAvail, usedIdx   uint16
	signalledUsed        uint16
	signalledValid       bool
}

type pendingFrame struct {
	data []byte
	opt  RxOptions
}

// Device is the model. Its methods are safe for concurrent use.
type Device struct {
	mu   sync.Mutex
	cfg  Config
	mem  *virtio.Region
	line *irq.Line

	status      uint32
	devFeatSel  uint32
	drvFeatSel  uint32
	drvFeatures uint64
	queueSel    uint32
	q           [2]queue
	isr         uint32
	// +checklocks:mu
	gen uint32
	// +checklocks:mu
	linkUp bool
	broken bool // virtio_error: stop processing until reset

	pend     []pendingFrame // ring of RxQueueLimit
	pendHead int
	pendN    int

	txPaused bool
	txFrames [][]byte
	txBuf    []byte

	faults  []Misbehaviour
	swallow [2]bool
	st      Stats
}

// New creates a device in reset state.
func New(cfg Config) *Device {
	if cfg.QueueNumMax <= 0 {
		cfg.QueueNumMax = 256
	}
	if cfg.Features == 0 {
		cfg.Features = DefaultFeatures
	}
	if cfg.Version == 0 {
		cfg.Version = 2
	}
	if cfg.DeviceID == 0 {
		cfg.DeviceID = virtio.DeviceIDNet
	}
	if cfg.RxQueueLimit <= 0 {
		cfg.RxQueueLimit = 256
	}
	return &Device{
		cfg:    cfg,
		mem:    cfg.Region,
		line:   cfg.Line,
		linkUp: !cfg.LinkDown,
		pend:   make([]pendingFrame, cfg.RxQueueLimit),
		txBuf:  make([]byte, 0, 65536+virtio.NetHdrLen),
	}
}

// SetLine sets the interrupt line.
func (m *Device) SetLine(l *irq.Line) {
	m.mu.Lock()
	m.line = l
	m.mu.Unlock()
}

// word returns the 32-bit word at off of b for atomic access.
func word(b []byte, off int) *uint32 {
	return (*uint32)(unsafe.Pointer(&b[off : off+4][0])) // bounds-checked, no load
}

func (m *Device) eventIdx() bool { return m.drvFeatures&(1<<virtio.FeatureEventIdx) != 0 }
func (m *Device) mergeable() bool {
	return m.drvFeatures&(1<<virtio.FeatureNetMrgRxbuf) != 0
}
func (m *Device) driverOK() bool {
	return m.status&virtio.StatusDriverOK != 0 && !m.broken
}

// Read32 implements virtio.Registers.
func (m *Device) Read32(off uint32) uint32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if off >= virtio.RegConfig {
		return binary.LittleEndian.Uint32(m.configSpace(off-virtio.RegConfig, 4))
	}
	switch off {
	case virtio.RegMagic:
		return virtio.MMIOMagic
	case virtio.RegVersion:
		return m.cfg.Version
	case virtio.RegDeviceID:
		return m.cfg.DeviceID
	case virtio.RegVendorID:
		return 0x554d4551 // "QEMU"
	case virtio.RegDeviceFeatures:
		switch m.devFeatSel {
		case 0:
			return uint32(m.cfg.Features)
		case 1:
			return uint32(m.cfg.Features >> 32)
		}
		return 0
	case virtio.RegQueueNumMax:
		if m.queueSel < 2 {
			return uint32(m.cfg.QueueNumMax)
		}
		return 0
	case virtio.RegQueueReady:
		if m.queueSel < 2 && m.q[m.queueSel].ready {
			return 1
		}
		return 0
	case virtio.RegInterruptStatus:
		return m.isr
	case virtio.RegStatus:
		return m.status
	case virtio.RegConfigGeneration:
		return m.gen
	}
	return 0
}

// Read16 implements virtio.Registers (configuration space only).
func (m *Device) Read16(off uint32) uint16 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if off < virtio.RegConfig {
		return 0
	}
	return binary.LittleEndian.Uint16(m.configSpace(off-virtio.RegConfig, 2))
}

// Read8 implements virtio.Registers (configuration space only).
func (m *Device) Read8(off uint32) uint8 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if off < virtio.RegConfig {
		return 0
	}
	return m.configSpace(off-virtio.RegConfig, 1)[0]
}

// Write8 implements virtio.Registers; the configuration space is
// read-only here.
func (m *Device) Write8(off uint32, v uint8) {}

// configSpace returns n bytes of virtio_net_config at off (zeros past it).
//
// +checklocks:m.mu
func (m *Device) configSpace(off uint32, n int) []byte {
	var c [16]byte
	copy(c[virtio.NetConfigMAC:], m.cfg.MAC[:])
	if m.linkUp {
		binary.LittleEndian.PutUint16(c[virtio.NetConfigStatus:], virtio.NetSLinkUp)
	}
	binary.LittleEndian.PutUint16(c[8:], 1)     // max_virtqueue_pairs
	binary.LittleEndian.PutUint16(c[10:], 1500) // mtu
	out := make([]byte, n)
	if int(off) < len(c) {
		copy(out, c[off:])
	}
	return out
}

// Write32 implements virtio.Registers.
func (m *Device) Write32(off uint32, v uint32) {
	m.mu.Lock()
	defer m.mu.Unlock()
	q := (*queue)(nil)
	if m.queueSel < 2 {
		q = &m.q[m.queueSel]
	}
	switch off {
	case virtio.RegDeviceFeaturesSel:
		m.devFeatSel = v
	case virtio.RegDriverFeaturesSel:
		m.drvFeatSel = v
	case virtio.RegDriverFeatures:
		if m.status&virtio.StatusFeaturesOK != 0 {
			return
		}
		switch m.drvFeatSel {
		case 0:
			m.drvFeatures = m.drvFeatures&^0xffffffff | uint64(v)
		case 1:
			m.drvFeatures = m.drvFeatures&0xffffffff | uint64(v)<<32
		}
	case virtio.RegQueueSel:
		m.queueSel = v
	case virtio.RegQueueNum:
		if q != nil && !q.ready {
			q.num = v
		}
	case virtio.RegQueueDescLow:
		if q != nil {
			q.desc = q.desc&^0xffffffff | uint64(v)
		}
	case virtio.RegQueueDescHigh:
		if q != nil {
			q.desc = q.desc&0xffffffff | uint64(v)<<32
		}
	case virtio.RegQueueDriverLow:
		if q != nil {
			q.driver = q.driver&^0xffffffff | uint64(v)
		}
	case virtio.RegQueueDriverHigh:
		if q != nil {
			q.driver = q.driver&0xffffffff | uint64(v)<<32
		}
	case virtio.RegQueueDeviceLow:
		if q != nil {
			q.device = q.device&^0xffffffff | uint64(v)
		}
	case virtio.RegQueueDeviceHigh:
		if q != nil {
			q.device = q.device&0xffffffff | uint64(v)<<32
		}
	case virtio.RegQueueReady:
		if q != nil {
			if v == 1 {
				m.enableQueue(q)
			} else {
				q.ready = false
			}
		}
	case virtio.RegQueueNotify:
		if v < 2 {
			m.st.Notifies[v]++
			m.handleNotify(int(v))
		}
	case virtio.RegInterruptACK:
		m.isr &^= v
	case virtio.RegStatus:
		m.setStatus(v)
	}
}

func (m *Device) setStatus(v uint32) {
	if v == 0 {
		m.reset()
		return
	}
	if v&virtio.StatusFeaturesOK != 0 && m.status&virtio.StatusFeaturesOK == 0 {
		ok := !m.cfg.RefuseFeatures &&
			m.drvFeatures&^m.cfg.Features == 0 &&
			m.drvFeatures&(1<<virtio.FeatureVersion1) != 0
		if !ok {
			v &^= virtio.StatusFeaturesOK
		}
	}
	if m.broken {
		v |= virtio.StatusNeedsReset
	}
	m.status = v
	if m.driverOK() {
		m.flushPending()
	}
}

// reset is virtio_reset: everything back to its initial state; frames
// waiting for buffers are dropped.
func (m *Device) reset() {
	m.st.Resets++
	m.status = 0
	m.drvFeatures = 0
	m.devFeatSel, m.drvFeatSel, m.queueSel = 0, 0, 0
	m.q = [2]queue{}
	m.isr = 0
	m.broken = false
	m.st.RxDropped += uint64(m.pendN)
	m.pendHead, m.pendN = 0, 0
	m.faults = nil
	m.swallow = [2]bool{}
}

// enableQueue resolves the ring addresses; a ring outside the region is a
// device error.
func (m *Device) enableQueue(q *queue) {
	n := int(q.num)
	if n == 0 || n > m.cfg.QueueNumMax || n&(n-1) != 0 {
		m.deviceError()
		return
	}
	var ok1, ok2, ok3 bool
	q.descB, ok1 = m.mem.Slice(q.desc, 16*n)
	q.availB, ok2 = m.mem.Slice(q.driver, 4+2*n+4)
	q.usedB, ok3 = m.mem.Slice(q.device, 4+8*n+4)
	if !ok1 || !ok2 || !ok3 || q.driver%4 != 0 || q.device%4 != 0 {
		m.deviceError()
		return
	}
	q.ready = true
	q.lastAvail = m.cfg.StartIdx
	q.usedIdx = m.cfg.StartIdx
	q.signalledValid = false
	atomic.StoreUint32(word(q.usedB, 0), uint32(q.usedIdx)<<16)
	m.setAvailEvent(q)
}

// deviceError is virtio_error for something the driver wrote that the
// device cannot use.
func (m *Device) deviceError() {
	m.st.BadDescriptors++
	m.needsReset()
}

// needsReset stops the device, sets NEEDS_RESET and tells the driver.
func (m *Device) needsReset() {
	if m.broken {
		return
	}
	m.broken = true
	if m.status&virtio.StatusDriverOK != 0 {
		m.status |= virtio.StatusNeedsReset
		m.isr |= virtio.InterruptConfig
		m.raise()
	}
}

func (m *Device) raise() {
	m.st.Interrupts++
	if m.line != nil {
		m.line.Raise()
	}
}

func (m *Device) handleNotify(qn int) {
	if !m.driverOK() || !m.q[qn].ready {
		return
	}
	switch qn {
	case RX:
		m.flushPending()
	case TX:
		if !m.txPaused {
			m.processTX()
		}
	}
}

// availIdx reads avail->idx.
func (q *queue) availIdx() uint16 { return uint16(atomic.LoadUint32(word(q.availB, 0)) >> 16) }

func (q *queue) availFlags() uint16 { return uint16(atomic.LoadUint32(word(q.availB, 0))) }

func (q *queue) usedEvent() uint16 {
	return uint16(atomic.LoadUint32(word(q.availB, 4+2*int(q.num))))
}

// setAvailEvent is vring_set_avail_event: notify me when you add past
// the entry I will take next.
func (m *Device) setAvailEvent(q *queue) {
	if m.eventIdx() {
		atomic.StoreUint32(word(q.usedB, 4+8*int(q.num)), uint32(q.lastAvail))
	}
}

// desc reads descriptor i.
func (q *queue) readDesc(i uint16) (addr uint64, length uint32, flags, next uint16) {
	d := q.descB[16*int(i):]
	return binary.LittleEndian.Uint64(d), binary.LittleEndian.Uint32(d[8:]),
		binary.LittleEndian.Uint16(d[12:]), binary.LittleEndian.Uint16(d[14:])
}

// pop is virtqueue_pop's ring half: the next available head, if any.
func (m *Device) pop(q *queue) (head uint16, ok bool) {
	if q.lastAvail == q.availIdx() {
		return 0, false
	}
	head = binary.LittleEndian.Uint16(q.availB[4+2*int(q.lastAvail&uint16(q.num-1)):])
	q.lastAvail++
	m.setAvailEvent(q)
	if uint32(head) >= q.num {
		m.deviceError()
		return 0, false
	}
	return head, true
}

// pushUsed writes used entry (id, length) at position k after usedIdx.
func (q *queue) pushUsed(k int, id, length uint32) {
	e := q.usedB[4+8*int((q.usedIdx+uint16(k))&uint16(q.num-1)):]
	binary.LittleEndian.PutUint32(e, id)
	binary.LittleEndian.PutUint32(e[4:], length)
}

// flush is virtqueue_flush: publish count entries, then interrupt if the
// driver asked (virtio_notify / virtio_split_should_notify).
func (m *Device) flush(q *queue, count int) {
	q.usedIdx += uint16(count)
	atomic.StoreUint32(word(q.usedB, 0), uint32(q.usedIdx)<<16)
	if m.shouldNotify(q) {
		m.isr |= virtio.InterruptVring
		m.raise()
	}
}

func (m *Device) shouldNotify(q *queue) bool {
	if !m.eventIdx() {
		return q.availFlags()&virtio.AvailFNoInterrupt == 0
	}
	v := q.signalledValid
	q.signalledValid = true
	old := q.signalledUsed
	q.signalledUsed = q.usedIdx
	return !v || virtio.VringNeedEvent(q.usedEvent(), q.usedIdx, old)
}

// takeFault removes and returns the next misbehaviour for queue qn.
func (m *Device) takeFault(qn int) (Misbehaviour, bool) {
	for i, f := range m.faults {
		if f.Queue == qn {
			m.faults = append(m.faults[:i], m.faults[i+1:]...)
			return f, true
		}
	}
	return Misbehaviour{}, false
}

// complete writes the used entries of one frame, applying a pending
// misbehaviour, and flushes.
func (m *Device) complete(q *queue, qn int, ids []uint16, lens []uint32) {
	if m.swallow[qn] {
		m.swallow[qn] = false
		return
	}
	f, bad := m.takeFault(qn)
	k := 0
	for i := range ids {
		id, length := uint32(ids[i]), lens[i]
		if bad && i == 0 {
			switch f.Kind {
			case UsedID:
				id = f.Value
			case UsedLen:
				length = f.Value
			}
		}
		q.pushUsed(k, id, length)
		k++
		if bad && i == 0 && f.Kind == UsedDuplicate {
			q.pushUsed(k, id, length)
			k++
			m.swallow[qn] = true
		}
	}
	if bad && f.Kind == UsedIdxJump {
		k += int(f.Value)
	}
	m.flush(q, k)
}

// Inject offers a frame to the device's receive side. It is written into
// the receive ring at once if the driver has posted enough buffers, else
// it waits (up to RxQueueLimit frames). It reports false if the frame was
// dropped.
func (m *Device) Inject(frame []byte, opt RxOptions) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	q := &m.q[RX]
	if !m.driverOK() || !q.ready {
		m.st.RxDropped++
		return false
	}
	if m.pendN == 0 {
		switch m.receive(frame, opt) {
		case rxDone:
			return true
		case rxDrop:
			return false
		}
	}
	if m.pendN == len(m.pend) {
		m.st.RxDropped++
		return false
	}
	p := &m.pend[(m.pendHead+m.pendN)%len(m.pend)]
	p.data = append(p.data[:0], frame...)
	p.opt = opt
	m.pendN++
	return true
}

// flushPending is qemu_flush_queued_packets: deliver waiting frames while
// buffers last.
func (m *Device) flushPending() {
	q := &m.q[RX]
	if !q.ready {
		return
	}
	for m.pendN > 0 && m.driverOK() {
		p := &m.pend[m.pendHead]
		if m.receive(p.data, p.opt) == rxNoBuffers {
			return
		}
		m.pendHead = (m.pendHead + 1) % len(m.pend)
		m.pendN--
	}
}

const (
	rxDone = iota
	rxNoBuffers
	rxDrop
)

// hasBuffers is virtio_net_has_buffers: enough available buffer space for
// size bytes (any one buffer without mergeable buffers: receive drops a
// frame too big for it). With none it leaves avail_event at the next entry
// so that the driver's refill kicks.
func (m *Device) hasBuffers(q *queue, size, maxPer int) bool {
	avail := q.availIdx()
	if !m.mergeable() && q.lastAvail != avail {
		return true
	}
	total := 0
	for i := q.lastAvail; i != avail; i++ {
		head := binary.LittleEndian.Uint16(q.availB[4+2*int(i&uint16(q.num-1)):])
		if uint32(head) >= q.num {
			return true // let pop report it
		}
		_, l, _, _ := q.readDesc(head)
		if maxPer > 0 && int(l) > maxPer {
			l = uint32(maxPer)
		}
		total += int(l)
		if total >= size {
			return true
		}
	}
	m.setAvailEvent(q)
	return false
}

// receive is virtio_net_receive_rcu: write [header][frame] over as many
// buffers as it takes, with num_buffers in the first header.
func (m *Device) receive(frame []byte, opt RxOptions) int {
	q := &m.q[RX]
	hdrLen := virtio.NetHdrLen
	size := hdrLen + len(frame)
	if !m.hasBuffers(q, size, opt.MaxPerBuffer) {
		return rxNoBuffers
	}
	if !m.mergeable() {
		head := binary.LittleEndian.Uint16(q.availB[4+2*int(q.lastAvail&uint16(q.num-1)):])
		if uint32(head) < q.num {
			if _, l, _, _ := q.readDesc(head); int(l) < size {
				m.st.RxDropped++ // too big for a buffer: dropped, buffer kept
				return rxDrop
			}
		}
	}
	var idsA [64]uint16
	var lensA [64]uint32
	ids, lens := idsA[:0], lensA[:0]
	var first []byte
	off := -hdrLen // offset in frame; negative while writing the header
	for off < len(frame) {
		if len(ids) == cap(idsA) {
			// virtqueue_unpop: give the buffers back, drop the frame.
			q.lastAvail -= uint16(len(ids))
			m.setAvailEvent(q)
			m.st.RxDropped++
			return rxDrop
		}
		head, ok := m.pop(q)
		if !ok {
			if !m.broken {
				q.lastAvail -= uint16(len(ids))
				m.setAvailEvent(q)
			}
			m.st.RxDropped++
			return rxDrop
		}
		addr, l, flags, _ := q.readDesc(head)
		if flags&virtio.DescFWrite == 0 {
			m.deviceError()
			return rxDrop
		}
		room := int(l)
		if opt.MaxPerBuffer > 0 && room > opt.MaxPerBuffer {
			room = opt.MaxPerBuffer
		}
		if len(ids) == 0 && room < hdrLen {
			m.deviceError()
			return rxDrop
		}
		n := min(room, len(frame)-off)
		buf, ok := m.mem.Slice(addr, n)
		if !ok {
			m.deviceError()
			return rxDrop
		}
		if len(ids) == 0 {
			first = buf[:hdrLen]
			copy(buf[hdrLen:], frame[:n-hdrLen])
		} else {
			copy(buf, frame[off:off+n])
		}
		off += n
		ids = append(ids, head)
		lens = append(lens, uint32(n))
	}
	numBuf := uint32(len(ids))
	if f, bad := m.peekFault(RX, NumBuffers); bad {
		numBuf = f.Value
	}
	first[0] = opt.Flags
	first[1] = opt.GSOType
	binary.LittleEndian.PutUint16(first[2:], 0)
	binary.LittleEndian.PutUint16(first[4:], 0)
	binary.LittleEndian.PutUint16(first[6:], opt.CsumStart)
	binary.LittleEndian.PutUint16(first[8:], opt.CsumOffset)
	binary.LittleEndian.PutUint16(first[10:], uint16(numBuf))
	m.complete(q, RX, ids, lens)
	m.st.RxDelivered++
	return rxDone
}

// peekFault takes a pending NumBuffers misbehaviour for queue qn.
func (m *Device) peekFault(qn int, k Kind) (Misbehaviour, bool) {
	for i, f := range m.faults {
		if f.Queue == qn && f.Kind == k {
			m.faults = append(m.faults[:i], m.faults[i+1:]...)
			return f, true
		}
	}
	return Misbehaviour{}, false
}

// processTX is virtio_net_flush_tx: send every posted frame, one used
// entry and one interrupt check each.
func (m *Device) processTX() {
	q := &m.q[TX]
	for m.driverOK() {
		head, ok := m.pop(q)
		if !ok {
			return
		}
		pkt := m.txBuf[:0]
		i, hops := head, 0
		for {
			addr, l, flags, next := q.readDesc(i)
			if flags&virtio.DescFWrite != 0 || len(pkt)+int(l) > cap(m.txBuf) {
				m.deviceError()
				return
			}
			b, ok := m.mem.Slice(addr, int(l))
			if !ok {
				m.deviceError()
				return
			}
			pkt = append(pkt, b...)
			if flags&virtio.DescFNext == 0 {
				break
			}
			if hops++; hops >= int(q.num) || uint32(next) >= q.num {
				m.deviceError()
				return
			}
			i = next
		}
		if len(pkt) >= virtio.NetHdrLen {
			frame := pkt[virtio.NetHdrLen:]
			m.st.TxFrames++
			if m.cfg.OnTX != nil {
				m.cfg.OnTX(frame)
			} else {
				m.txFrames = append(m.txFrames, append([]byte(nil), frame...))
			}
		}
		ids, lens := [1]uint16{head}, [1]uint32{0}
		m.complete(q, TX, ids[:], lens[:])
	}
}

// PauseTX stops (true) or resumes (false) transmission; resuming sends
// everything posted meanwhile.
func (m *Device) PauseTX(paused bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.txPaused = paused
	if !paused && m.driverOK() && m.q[TX].ready {
		m.processTX()
	}
}

// TakeTX returns the frames transmitted since the last call (without
// their virtio-net headers).
func (m *Device) TakeTX() [][]byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	f := m.txFrames
	m.txFrames = nil
	return f
}

// SetLink changes the link status and sends a configuration change
// interrupt.
func (m *Device) SetLink(up bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.linkUp = up
	m.gen++
	if m.status&virtio.StatusDriverOK != 0 {
		m.isr |= virtio.InterruptConfig
		m.raise()
	}
}

// Misbehave queues a one-shot fault.
func (m *Device) Misbehave(f Misbehaviour) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.faults = append(m.faults, f)
}

// ResetMidFlight resets the device behind the driver's back, forgetting
// its rings; with raise it then interrupts (with no cause set).
func (m *Device) ResetMidFlight(raise bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reset()
	if raise {
		m.raise()
	}
}

// NeedsReset makes the device set DEVICE_NEEDS_RESET, stop, and send a
// configuration change interrupt.
func (m *Device) NeedsReset() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.needsReset()
}

// SignalUsed sets the used-buffer interrupt cause without raising the
// line, for tests that call the driver's handler themselves.
func (m *Device) SignalUsed() {
	m.mu.Lock()
	m.isr |= virtio.InterruptVring
	m.mu.Unlock()
}

// QueueAddrs returns the bus addresses the driver gave for queue qn.
func (m *Device) QueueAddrs(qn int) (desc, driver, device uint64, num int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	q := &m.q[qn]
	return q.desc, q.driver, q.device, int(q.num)
}

// DriverFeatures returns the features the driver accepted.
func (m *Device) DriverFeatures() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.drvFeatures
}

// Status returns the device status register.
func (m *Device) Status() uint32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.status
}

// Stats returns the device's counters.
func (m *Device) Stats() Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.st
	s.RxPending = m.pendN
	return s
}
