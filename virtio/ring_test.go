package virtio

import (
	"encoding/binary"
	"sync/atomic"
	"testing"

	"github.com/kaidoku-net/kaidoku/netstack/skb"
)

func TestVringNeedEvent(t *testing.T) {
	cases := []struct {
		event, new, old uint16
		want            bool
	}{
		{0, 1, 0, true},         // event at old
		{1, 1, 0, false},        // event == new is not crossed yet
		{5, 10, 0, true},        // inside [old, new)
		{10, 10, 0, false},      // at new
		{11, 10, 0, false},      // beyond
		{65535, 2, 65534, true}, // window wraps
		{0, 2, 65534, true},
		{2, 2, 65534, false},
		{65533, 2, 65534, false}, // before old
		{7, 7, 7, false},         // empty window
	}
	for _, c := range cases {
		if got := VringNeedEvent(c.event, c.new, c.old); got != c.want {
			t.Errorf("need_event(%d, %d, %d) = %v, want %v", c.event, c.new, c.old, got, c.want)
		}
	}
}

// bareRing is a virtqueue plus a pool in one region, with the test
// playing the device by hand.
type bareRing struct {
	vq      *virtqueue
	region  *Region
	pool    *skb.Pool
	faults  []*Fault
	notifys int
}

func newBareRing(t *testing.T, num int, event bool, start uint16) *bareRing {
	t.Helper()
	r := &bareRing{region: NewRegion(0x100000, 1<<20)}
	vq, err := newVirtqueue("rx", 0, num, r.region)
	if err != nil {
		t.Fatal(err)
	}
	vq.event = event
	vq.notify = func(uint16) { r.notifys++ }
	vq.onFault = func(f *Fault) { r.faults = append(r.faults, f) }
	vq.init(start)
	r.vq = vq
	r.pool, err = skb.NewPool("bare", 256, 2*num, PoolMemory(r.region))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *bareRing) post(t *testing.T) *skb.Buffer {
	t.Helper()
	b := r.pool.Get()
	if err := r.vq.virtqueueAddSplit(b.Addr(), uint32(len(b.Head())), true, b); err != nil {
		t.Fatal(err)
	}
	return b
}

// devicePop reads the avail entry at index i.
func (r *bareRing) availEntry(i uint16) uint16 {
	return binary.LittleEndian.Uint16(r.vq.avail[4+2*int(i&(r.vq.num-1)):])
}

// use writes a used entry at position idx and publishes used->idx = idx+1.
func (r *bareRing) use(idx uint16, id, length uint32) {
	e := r.vq.used[4+8*int(idx&(r.vq.num-1)):]
	binary.LittleEndian.PutUint32(e, id)
	binary.LittleEndian.PutUint32(e[4:], length)
	atomic.StoreUint32(word(r.vq.used, 0), uint32(idx+1)<<16)
}

func (r *bareRing) setAvailEvent(v uint16) {
	atomic.StoreUint32(word(r.vq.used, 4+8*int(r.vq.num)), uint32(v))
}

func (r *bareRing) usedEvent() uint16 {
	return uint16(atomic.LoadUint32(word(r.vq.avail, 4+2*int(r.vq.num))))
}

func TestRingWrapsAt65536(t *testing.T) {
	r := newBareRing(t, 8, true, 65530)
	used := uint16(65530)
	for i := 0; i < 40; i++ {
		b := r.post(t)
		avail := uint16(atomic.LoadUint32(word(r.vq.avail, 0)) >> 16)
		if avail != 65530+uint16(i)+1 {
			t.Fatalf("avail idx %d after %d adds", avail, i+1)
		}
		id := r.availEntry(avail - 1)
		r.use(used, uint32(id), 100)
		used++
		got, l, posted := r.vq.virtqueueGetBufCtxSplit()
		if got != b || l != 100 || posted != 256 {
			t.Fatalf("got %p len %d posted %d, want %p", got, l, posted, b)
		}
		got.Free()
	}
	if r.vq.numFree != 8 || len(r.faults) != 0 || r.pool.InUse() != 0 {
		t.Fatalf("numFree %d faults %v inuse %d", r.vq.numFree, r.faults, r.pool.InUse())
	}
}

func TestKickPrepare(t *testing.T) {
	r := newBareRing(t, 8, true, 0)
	// avail_event 0: the first add crosses it.
	r.post(t)
	if !r.vq.virtqueueKickPrepare() {
		t.Fatal("first add not kicked")
	}
	// The device has not caught up (avail_event still 0): no kick.
	r.post(t)
	r.post(t)
	if r.vq.virtqueueKickPrepare() {
		t.Fatal("kick while the device is behind")
	}
	// The device took everything and waits at 3.
	r.setAvailEvent(3)
	r.post(t)
	if !r.vq.virtqueueKickPrepare() {
		t.Fatal("no kick for a waiting device")
	}
	// Without event index, used->flags decides.
	r2 := newBareRing(t, 8, false, 0)
	r2.post(t)
	if !r2.vq.virtqueueKickPrepare() {
		t.Fatal("no kick without NO_NOTIFY")
	}
	atomic.StoreUint32(word(r2.vq.used, 0), UsedFNoNotify)
	r2.post(t)
	if r2.vq.virtqueueKickPrepare() {
		t.Fatal("kick despite NO_NOTIFY")
	}
}

func TestCallbackControl(t *testing.T) {
	r := newBareRing(t, 16, true, 0)
	vq := r.vq
	for i := 0; i < 8; i++ {
		r.post(t)
	}
	// disable_cb writes used_event = 0 unless the device just signalled.
	vq.storeUsedEvent(5)
	vq.virtqueueDisableCb()
	if r.usedEvent() != 0 || vq.availFlagsShadow.Load() != AvailFNoInterrupt {
		t.Fatalf("used_event %d shadow %d", r.usedEvent(), vq.availFlagsShadow.Load())
	}
	opaque := vq.virtqueueEnableCbPrepare()
	if opaque != 0 || r.usedEvent() != 0 || vq.availFlagsShadow.Load() != 0 {
		t.Fatalf("enable_cb_prepare: opaque %d used_event %d", opaque, r.usedEvent())
	}
	if vq.virtqueuePoll(opaque) {
		t.Fatal("poll saw work")
	}
	r.use(0, uint32(r.availEntry(0)), 10)
	if !vq.virtqueuePoll(opaque) {
		t.Fatal("poll missed a used entry")
	}
	// An interrupt sets event_triggered; disable then writes nothing.
	if !vq.vringInterrupt() || !vq.eventTriggered.Load() {
		t.Fatal("vring_interrupt")
	}
	vq.storeUsedEvent(9)
	vq.virtqueueDisableCb()
	if r.usedEvent() != 9 {
		t.Fatalf("disable_cb wrote used_event after the device signalled: %d", r.usedEvent())
	}
	// get_buf with callbacks off leaves used_event alone.
	b, _, _ := vq.virtqueueGetBufCtxSplit()
	b.Free()
	if r.usedEvent() != 9 {
		t.Fatal("get_buf moved used_event with callbacks off")
	}
	// enable_cb_delayed: 7 in flight, last_used 1 → used_event 1 + 7*3/4 = 6.
	if !vq.virtqueueEnableCbDelayed() || r.usedEvent() != 6 || vq.eventTriggered.Load() {
		t.Fatalf("enable_cb_delayed: used_event %d", r.usedEvent())
	}
	for i := uint16(1); i <= 6; i++ {
		r.use(i, uint32(r.availEntry(i)), 10)
	}
	if vq.virtqueueEnableCbDelayed() {
		t.Fatal("enable_cb_delayed ignored 6 used entries past its threshold")
	}
	// get_buf with callbacks on asks for the next entry.
	b, _, _ = vq.virtqueueGetBufCtxSplit()
	b.Free()
	if r.usedEvent() != 2 {
		t.Fatalf("used_event %d after get_buf, want 2", r.usedEvent())
	}
	// Without event index the flags word carries NO_INTERRUPT.
	r2 := newBareRing(t, 8, false, 0)
	r2.post(t)
	r2.vq.virtqueueDisableCb()
	w := atomic.LoadUint32(word(r2.vq.avail, 0))
	if uint16(w) != AvailFNoInterrupt || w>>16 != 1 {
		t.Fatalf("avail word %#x", w)
	}
	r2.vq.virtqueueEnableCbPrepare()
	if w := atomic.LoadUint32(word(r2.vq.avail, 0)); uint16(w) != 0 || w>>16 != 1 {
		t.Fatalf("avail word %#x after enable", w)
	}
}

func TestGetBufFaults(t *testing.T) {
	cases := []struct {
		name string
		dev  func(r *bareRing)
		kind FaultKind
	}{
		{"id out of range", func(r *bareRing) { r.use(0, 99, 10) }, FaultUsedID},
		{"never posted", func(r *bareRing) { r.use(0, 6, 10) }, FaultUsedUnposted},
		{"duplicate", func(r *bareRing) {
			id := uint32(r.availEntry(0))
			r.use(0, id, 10)
			b, _, _ := r.vq.virtqueueGetBufCtxSplit()
			b.Free()
			r.use(1, id, 10)
		}, FaultUsedDuplicate},
		{"index jump", func(r *bareRing) {
			atomic.StoreUint32(word(r.vq.used, 0), uint32(40)<<16)
		}, FaultUsedIdx},
		{"index jump by one too many", func(r *bareRing) {
			atomic.StoreUint32(word(r.vq.used, 0), uint32(5)<<16) // 4 posted
		}, FaultUsedIdx},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := newBareRing(t, 8, true, 0)
			for i := 0; i < 4; i++ {
				r.post(t)
			}
			c.dev(r)
			if b, _, _ := r.vq.virtqueueGetBufCtxSplit(); b != nil {
				t.Fatal("bad entry returned a buffer")
			}
			if len(r.faults) != 1 || r.faults[0].Kind != c.kind {
				t.Fatalf("faults %v, want one %v", r.faults, c.kind)
			}
			if !r.vq.broken.Load() {
				t.Fatal("queue not broken")
			}
			// A broken queue hands out nothing and takes nothing.
			if err := r.vq.virtqueueAddSplit(0x100000, 1, true, r.pool.Get()); err != errBroken {
				t.Fatalf("add on broken queue: %v", err)
			}
			if !r.vq.virtqueueEnableCbDelayed() || r.vq.virtqueuePoll(0) || r.vq.vringInterrupt() {
				t.Fatal("broken queue still active")
			}
			// Every posted buffer is recoverable exactly once.
			n := 0
			for b := r.vq.detachUnusedBufSplit(); b != nil; b = r.vq.detachUnusedBufSplit() {
				b.Free()
				n++
			}
			if r.pool.InUse() != 1 { // the one refused by the broken add
				t.Fatalf("in use %d after detaching %d", r.pool.InUse(), n)
			}
		})
	}
}

// BenchmarkRingAddGet is the ring alone: one buffer posted and taken back
// per op, the test acting as device.
func BenchmarkRingAddGet(b *testing.B) {
	r := newBareRing(&testing.T{}, 256, true, 0)
	buf := r.pool.Get()
	idx := uint16(0)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := r.vq.virtqueueAddSplit(buf.Addr(), 2048, true, buf); err != nil {
			b.Fatal(err)
		}
		r.use(idx, uint32(r.availEntry(idx)), 64)
		idx++
		if got, _, _ := r.vq.virtqueueGetBufCtxSplit(); got != buf {
			b.Fatal("lost buffer")
		}
	}
}
