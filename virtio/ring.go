package virtio

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"
	"unsafe"

	"github.com/kaidoku-net/kaidoku/netstack/skb"
)

// The split virtqueue of drivers/virtio/virtio_ring.c (Linux v6.8), one
// buffer per descriptor: that is all virtio-net needs here (mergeable RX
// buffers, and TX frames whose header sits in their own headroom), so
// there are neither chains nor indirect tables to build.
//
// Shared layout (virtio spec 2.7), each part allocated on its own:
//
//	descriptor table  num × {addr le64, len le32, flags le16, next le16}
//	available ring    flags le16, idx le16, ring[num] le16, used_event le16
//	used ring         flags le16, idx le16, ring[num] {id le32, len le32},
//	                  avail_event le16
//
// The avail and used rings are allocated two bytes longer than the spec
// says, so that used_event and avail_event each fill the low half of a
// 32-bit word that nobody else uses, and flags+idx form the first word.
//
// Memory ordering. The device runs concurrently with the driver: QEMU's
// threads in the image, a goroutine of the device model in host tests.
// Every ring word that one side writes and the other reads (avail
// flags+idx, used flags+idx, used_event, avail_event) is accessed with
// sync/atomic on both sides; descriptors, ring entries and buffer
// contents are plain memory published through those words. The virtio
// barriers map onto them as follows:
//
//   - wmb before the avail idx store (virtqueue_add_split): the idx is
//     stored with a compare-and-swap, a LOCK CMPXCHG on amd64 (a full
//     barrier), and in the Go memory model a release: the descriptor,
//     ring entry and buffer written before it are visible to whoever
//     loads that idx.
//   - mb before reading avail_event or used flags to decide on a kick
//     (virtqueue_kick_prepare): Go atomics are sequentially consistent,
//     so the locked idx store and the atomic load of avail_event are not
//     reordered (the locked instruction drains the store buffer).
//   - rmb after reading used idx, before reading used entries and buffers
//     (virtqueue_get_buf_ctx): the atomic load is an acquire; on amd64 a
//     plain MOV, which TSO keeps ordered before later loads, and which
//     the compiler does not move later loads above.
//   - mb after writing used_event, before reading used idx again
//     (virtqueue_get_buf_ctx's virtio_store_mb, virtqueue_enable_cb_*
//     then virtqueue_poll): used_event is stored with an atomic store,
//     an XCHG on amd64, a full barrier.
//
// Under TamaGo (GOOS=tamago, amd64) sync/atomic compiles to the same
// instructions as on the host and x86 DMA is cache-coherent, so these are
// exactly Linux's virtio_wmb/virtio_mb/virtio_rmb with weak barriers. On
// the host the race detector treats the same atomics as synchronisation,
// which is what keeps the tests clean under -race. Multi-byte ring fields
// are little-endian (virtio 1.x); the 32-bit atomic words assume a
// little-endian CPU, as amd64 is.
//
// Ownership. The driver-private state (free list, shadows, num_free) has
// one owner at a time: the NAPI poll for RX, the holder of the TX lock
// for TX, or the reset path after disabling both. Only the fields the
// interrupt path touches concurrently are atomic: last_used_idx (read by
// vring_interrupt), the avail flags shadow and used_event (written by
// virtqueue_disable_cb), event_triggered and broken.

const descSize = 16

// Errors from the ring.
var (
	errRingFull = errors.New("virtio: ring full")    // -ENOSPC
	errBroken   = errors.New("virtio: queue broken") // -EIO
)

// virtqueue is struct vring_virtqueue for a split ring.
type virtqueue struct {
	name  string
	index uint16 // queue number, written to QueueNotify
	num   uint16
	event bool // VIRTIO_RING_F_EVENT_IDX negotiated

	desc, avail, used             []byte
	descAddr, availAddr, usedAddr uint64

	// Driver-private; owned as described above.
	freeHead       uint16
	numFree        int
	availIdxShadow uint16
	numAdded       int
	data           []*skb.Buffer // desc_state[].data: non-nil while in flight
	descLen        []uint32      // desc_extra[].len
	descNext       []uint16      // desc_extra[].next: the free list
	everPosted     []bool        // to tell a duplicate from a never-posted id

	lastUsedIdx      atomic.Uint32 // uint16 value
	availFlagsShadow atomic.Uint32 // uint16 value
	eventTriggered   atomic.Bool
	broken           atomic.Bool

	// inFlight mirrors num-numFree for readers that do not own the ring.
	inFlight atomic.Int32

	notify  func(index uint16)
	onFault func(*Fault)
	// deviceFence, if set, orders the driver's used_event store before
	// its next read of used->idx as seen by the device (NetConfig.DeviceFence).
	deviceFence func()
}

// vringSizes returns the bytes of the three parts for num entries.
func vringSizes(num int) (desc, avail, used int) {
	return descSize * num, 4 + 2*num + 4, 4 + 8*num + 4
}

// newVirtqueue is vring_create_virtqueue_split: it carves the three parts
// from mem.
func newVirtqueue(name string, index uint16, num int, mem Memory) (*virtqueue, error) {
	if num <= 0 || num > 32768 || num&(num-1) != 0 {
		return nil, fmt.Errorf("virtio: %s: bad queue size %d", name, num)
	}
	ds, as, us := vringSizes(num)
	vq := &virtqueue{name: name, index: index, num: uint16(num)}
	var err error
	if vq.desc, vq.descAddr, err = mem.Alloc(ds, 4096); err != nil {
		return nil, fmt.Errorf("virtio: %s descriptors: %w", name, err)
	}
	if vq.avail, vq.availAddr, err = mem.Alloc(as, 64); err != nil {
		return nil, fmt.Errorf("virtio: %s avail ring: %w", name, err)
	}
	if vq.used, vq.usedAddr, err = mem.Alloc(us, 4096); err != nil {
		return nil, fmt.Errorf("virtio: %s used ring: %w", name, err)
	}
	if len(vq.desc) < ds || len(vq.avail) < as || len(vq.used) < us {
		return nil, fmt.Errorf("virtio: %s: memory returned short allocations", name)
	}
	for _, b := range [][]byte{vq.avail, vq.used} {
		if uintptr(unsafe.Pointer(&b[0]))%4 != 0 {
			return nil, fmt.Errorf("virtio: %s: ring memory not 4-byte aligned", name)
		}
	}
	vq.data = make([]*skb.Buffer, num)
	vq.descLen = make([]uint32, num)
	vq.descNext = make([]uint16, num)
	vq.everPosted = make([]bool, num)
	vq.init(0)
	return vq, nil
}

// init resets the ring to its state after creation
// (virtqueue_init/virtqueue_vring_init_split), with both indices at start.
// The caller must own the ring and have freed its buffers.
func (vq *virtqueue) init(start uint16) {
	clear(vq.desc)
	clear(vq.avail)
	clear(vq.used)
	n := int(vq.num)
	for i := 0; i < n; i++ {
		vq.data[i] = nil
		vq.descLen[i] = 0
		vq.descNext[i] = uint16(i + 1)
		vq.everPosted[i] = false
	}
	vq.freeHead = 0
	vq.numFree = n
	vq.numAdded = 0
	vq.availIdxShadow = start
	vq.lastUsedIdx.Store(uint32(start))
	vq.availFlagsShadow.Store(0)
	vq.eventTriggered.Store(false)
	vq.broken.Store(false)
	vq.inFlight.Store(0)
	vq.storeAvailIdx(start)
	vq.storeUsedEvent(start)
	if start != 0 {
		// A device starting at start has used.idx there too; the test
		// hook that uses this sets the device model accordingly.
		atomic.StoreUint32(word(vq.used, 0), uint32(start)<<16)
	}
}

// word returns the 32-bit word at off of b for atomic access.
func word(b []byte, off int) *uint32 {
	return (*uint32)(unsafe.Pointer(&b[off : off+4][0])) // bounds-checked, no load
}

// storeAvailIdx publishes avail->idx (high half of the first avail word;
// the low half is avail->flags, which disable_cb may store concurrently).
func (vq *virtqueue) storeAvailIdx(idx uint16) {
	w := word(vq.avail, 0)
	for {
		old := atomic.LoadUint32(w)
		if atomic.CompareAndSwapUint32(w, old, old&0xffff|uint32(idx)<<16) {
			return
		}
	}
}

// storeAvailFlags writes avail->flags (without event index).
func (vq *virtqueue) storeAvailFlags(flags uint16) {
	w := word(vq.avail, 0)
	for {
		old := atomic.LoadUint32(w)
		if atomic.CompareAndSwapUint32(w, old, old&^0xffff|uint32(flags)) {
			return
		}
	}
}

// storeUsedEvent writes used_event, the trailing field of the avail ring,
// with a full barrier (virtio_store_mb).
func (vq *virtqueue) storeUsedEvent(v uint16) {
	atomic.StoreUint32(word(vq.avail, 4+2*int(vq.num)), uint32(v))
}

// loadUsedIdx reads used->idx (acquire: virtio_rmb follows).
func (vq *virtqueue) loadUsedIdx() uint16 {
	return uint16(atomic.LoadUint32(word(vq.used, 0)) >> 16)
}

// loadUsedFlags reads used->flags.
func (vq *virtqueue) loadUsedFlags() uint16 {
	return uint16(atomic.LoadUint32(word(vq.used, 0)))
}

// loadAvailEvent reads avail_event, the trailing field of the used ring.
func (vq *virtqueue) loadAvailEvent() uint16 {
	return uint16(atomic.LoadUint32(word(vq.used, 4+8*int(vq.num))))
}

// virtqueueAddSplit is virtqueue_add_split for one buffer: post length
// bytes at bus address addr, device-writable if writable, with b as the
// token virtqueueGetBufCtxSplit returns. The avail idx is published at
// once; the device is not notified (virtqueueKickPrepare).
func (vq *virtqueue) virtqueueAddSplit(addr uint64, length uint32, writable bool, b *skb.Buffer) error {
	if vq.broken.Load() {
		return errBroken
	}
	if vq.numFree < 1 {
		return errRingFull
	}
	head := vq.freeHead
	var flags uint16
	if writable {
		flags = DescFWrite
	}
	d := vq.desc[int(head)*descSize : int(head)*descSize+descSize]
	binary.LittleEndian.PutUint64(d[0:], addr)
	binary.LittleEndian.PutUint32(d[8:], length)
	binary.LittleEndian.PutUint16(d[12:], flags)
	binary.LittleEndian.PutUint16(d[14:], 0)
	vq.descLen[head] = length
	vq.numFree--
	vq.freeHead = vq.descNext[head]
	vq.data[head] = b
	vq.everPosted[head] = true

	slot := int(vq.availIdxShadow & (vq.num - 1))
	binary.LittleEndian.PutUint16(vq.avail[4+2*slot:], head)
	vq.availIdxShadow++
	vq.storeAvailIdx(vq.availIdxShadow) // virtio_wmb, then avail->idx
	vq.numAdded++
	if vq.numAdded == 1<<16-1 {
		// The kick window would otherwise overflow 16 bits.
		if vq.virtqueueKickPrepare() {
			vq.virtqueueNotify()
		}
	}
	return nil
}

// detachBufSplit is detach_buf_split: return head to the free list.
func (vq *virtqueue) detachBufSplit(head uint16) {
	vq.data[head] = nil
	vq.descNext[head] = vq.freeHead
	vq.freeHead = head
	vq.numFree++
}

// moreUsed is more_used_split.
func (vq *virtqueue) moreUsed() bool {
	return uint16(vq.lastUsedIdx.Load()) != vq.loadUsedIdx()
}

// virtqueueGetBufCtxSplit is virtqueue_get_buf_ctx_split: the next used
// buffer, the length the device wrote into it, and the length that was
// posted; nil when there is none or the queue is broken. A used entry
// that cannot be right breaks the queue (BAD_RING) and is reported. On
// top of Linux's checks it refuses a used idx that moved further than the
// number of buffers in flight, which would make it read stale entries.
func (vq *virtqueue) virtqueueGetBufCtxSplit() (b *skb.Buffer, length, posted uint32) {
	if vq.broken.Load() {
		return nil, 0, 0
	}
	last := uint16(vq.lastUsedIdx.Load())
	usedIdx := vq.loadUsedIdx() // acquire: entries below are read after it
	if last == usedIdx {
		return nil, 0, 0
	}
	if outstanding := vq.availIdxShadow - last; usedIdx-last > outstanding {
		vq.badRing(&Fault{Kind: FaultUsedIdx, Idx: usedIdx, Last: last, Outstanding: outstanding})
		return nil, 0, 0
	}
	e := vq.used[4+8*int(last&(vq.num-1)):]
	id := binary.LittleEndian.Uint32(e[0:])
	length = binary.LittleEndian.Uint32(e[4:])
	if id >= uint32(vq.num) {
		vq.badRing(&Fault{Kind: FaultUsedID, ID: id, Len: length, Idx: last})
		return nil, 0, 0
	}
	if vq.data[id] == nil {
		kind := FaultUsedUnposted
		if vq.everPosted[id] {
			kind = FaultUsedDuplicate
		}
		vq.badRing(&Fault{Kind: kind, ID: id, Len: length, Idx: last})
		return nil, 0, 0
	}
	b, posted = vq.data[id], vq.descLen[id]
	vq.detachBufSplit(uint16(id))
	last++
	vq.lastUsedIdx.Store(uint32(last))
	// With callbacks on, ask for an interrupt at the very next entry.
	if vq.availFlagsShadow.Load()&AvailFNoInterrupt == 0 {
		vq.storeUsedEvent(last)
	}
	return b, length, posted
}

// badRing is BAD_RING: mark the queue broken and report why.
func (vq *virtqueue) badRing(f *Fault) {
	vq.broken.Store(true)
	f.Queue = vq.name
	if vq.onFault != nil {
		vq.onFault(f)
	}
}

// virtqueueKickPrepare is virtqueue_kick_prepare_split: whether the buffers
// added since the last call need a notification, by avail_event with event
// index, by used->flags without.
func (vq *virtqueue) virtqueueKickPrepare() bool {
	newIdx := vq.availIdxShadow
	old := newIdx - uint16(vq.numAdded)
	vq.numAdded = 0
	// The avail idx store was a locked instruction: the load below is
	// ordered after it (virtio_mb), where the CPU honours it.
	if vq.needKick(newIdx, old) {
		return true
	}
	// Under TCG the device's store of avail_event and its re-read of
	// avail->idx can pass ours the other way; then we read a stale
	// avail_event that says no, the device misses the new entries, and
	// nobody notifies (NetConfig.DeviceFence). Only a "no" can be stale
	// in that way, so only a "no" is fenced and asked again; a "yes" is
	// followed by the notification, a register write, which orders the
	// rest.
	if vq.deviceFence == nil {
		return false
	}
	vq.deviceFence()
	return vq.needKick(newIdx, old)
}

// needKick is the notification test: avail_event with event index,
// used->flags without.
func (vq *virtqueue) needKick(newIdx, old uint16) bool {
	if vq.event {
		return VringNeedEvent(vq.loadAvailEvent(), newIdx, old)
	}
	return vq.loadUsedFlags()&UsedFNoNotify == 0
}

// virtqueueNotify is virtqueue_notify: tell the device, unless the queue
// is broken.
func (vq *virtqueue) virtqueueNotify() bool {
	if vq.broken.Load() {
		return false
	}
	vq.notify(vq.index)
	return true
}

// setFlagsShadow sets or clears NO_INTERRUPT in the shadow and reports
// whether it changed.
func (vq *virtqueue) setNoInterrupt(on bool) bool {
	for {
		f := vq.availFlagsShadow.Load()
		nf := f &^ AvailFNoInterrupt
		if on {
			nf |= AvailFNoInterrupt
		}
		if nf == f {
			return false
		}
		if vq.availFlagsShadow.CompareAndSwap(f, nf) {
			return true
		}
	}
}

// virtqueueDisableCb is virtqueue_disable_cb_split: ask the device not to
// interrupt. With event index it writes used_event = 0 (Linux's
// best-effort value) unless the device has just interrupted, in which case
// it will not do so again until re-armed and nothing need be written. It
// is safe against the owner's concurrent use (the interrupt path calls it).
func (vq *virtqueue) virtqueueDisableCb() {
	if !vq.setNoInterrupt(true) {
		return
	}
	if vq.eventTriggered.Load() {
		return
	}
	if vq.event {
		vq.storeUsedEvent(0)
	} else {
		vq.storeAvailFlags(AvailFNoInterrupt)
	}
}

// enableCb clears NO_INTERRUPT and event_triggered, the common start of
// the enable_cb variants.
func (vq *virtqueue) enableCb() {
	vq.eventTriggered.Store(false)
	if vq.setNoInterrupt(false) && !vq.event {
		vq.storeAvailFlags(0)
	}
}

// virtqueueEnableCbPrepare is virtqueue_enable_cb_prepare_split: re-arm
// the interrupt for the next used entry and return the index to pass to
// virtqueuePoll.
func (vq *virtqueue) virtqueueEnableCbPrepare() uint16 {
	vq.enableCb()
	last := uint16(vq.lastUsedIdx.Load())
	vq.storeUsedEvent(last)
	if vq.deviceFence != nil {
		vq.deviceFence()
	}
	return last
}

// virtqueuePoll is virtqueue_poll: whether entries arrived after opaque
// was taken (full barrier first; false on a broken queue).
func (vq *virtqueue) virtqueuePoll(opaque uint16) bool {
	if vq.broken.Load() {
		return false
	}
	return opaque != vq.loadUsedIdx()
}

// virtqueueEnableCbDelayed is virtqueue_enable_cb_delayed_split: re-arm
// the interrupt for when three quarters of the buffers in flight are
// used. It returns false if that many already are (the caller should
// process them). Unlike Linux it returns true on a broken queue, whose
// entries will never be consumed, so that callers looping on it stop.
func (vq *virtqueue) virtqueueEnableCbDelayed() bool {
	vq.enableCb()
	last := uint16(vq.lastUsedIdx.Load())
	bufs := uint16(int(vq.availIdxShadow-last) * 3 / 4)
	vq.storeUsedEvent(last + bufs)
	if vq.deviceFence != nil {
		vq.deviceFence()
	}
	if vq.broken.Load() {
		return true
	}
	return vq.loadUsedIdx()-last <= bufs
}

// vringInterrupt is the ring half of vring_interrupt: false (IRQ_NONE, or
// a broken queue) if there is nothing for the callback.
func (vq *virtqueue) vringInterrupt() bool {
	if !vq.moreUsed() {
		return false
	}
	if vq.broken.Load() {
		return false
	}
	if vq.event {
		vq.eventTriggered.Store(true) // a hint, racy by design
	}
	return true
}

// detachUnusedBufSplit is virtqueue_detach_unused_buf_split: take back a
// buffer the device still holds, or nil when none is left. Only after the
// device has been reset.
func (vq *virtqueue) detachUnusedBufSplit() *skb.Buffer {
	for i := range vq.data {
		if b := vq.data[i]; b != nil {
			vq.detachBufSplit(uint16(i))
			return b
		}
	}
	return nil
}

// publishInFlight updates the mirror of the buffers in flight.
func (vq *virtqueue) publishInFlight() {
	vq.inFlight.Store(int32(int(vq.num) - vq.numFree))
}
