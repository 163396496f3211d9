package virtio_test

import (
	"encoding/binary"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kaidoku-net/kaidoku/irq"
	"github.com/kaidoku-net/kaidoku/napi"
	"github.com/kaidoku-net/kaidoku/netstack/skb"
	"github.com/kaidoku-net/kaidoku/virtio"
	"github.com/kaidoku-net/kaidoku/virtio/virtiotest"
)

const testVector = 40

var (
	devMAC  = [6]byte{0x52, 0x54, 0x00, 0x12, 0x34, 0x56}
	peerMAC = [6]byte{0x52, 0x54, 0x00, 0xab, 0xcd, 0xef}
)

// opts configure a harness.
type opts struct {
	queue      int    // model QueueNumMax (default 256)
	rxBufs     int    // receive pool size (default 2*queue)
	features   uint64 // offered (default virtiotest.DefaultFeatures)
	start      uint16 // ring start index
	large      int    // large pool buffers (0: none)
	hold       bool   // Deliver keeps buffers (the test frees them)
	noRun      bool   // no softnet goroutine: the test calls RunOnce
	txQueueLen int
	linkDown   bool
	refill     time.Duration
	onTX       func([]byte)
	rxLimit    int
	busyPollNs int64
	noNapiTx   bool              // napi_tx=0 (the image's mode); tests default to Linux's napi_tx=1
	deliver    func(*skb.Buffer) // hands each frame on (instead of recording it)
	noTrace    bool              // NetConfig.NoTrace
	fence      bool              // NetConfig.DeviceFence
}

// countingRegs is the model's registers, counting the driver's reads of
// InterruptStatus.
type countingRegs struct {
	*virtiotest.Device
	statusReads atomic.Uint64
}

func (r *countingRegs) Read32(off uint32) uint32 {
	if off == virtio.RegInterruptStatus {
		r.statusReads.Add(1)
	}
	return r.Device.Read32(off)
}

// harness wires the model, an interrupt line and the driver together as
// the image does.
type harness struct {
	t      testing.TB
	regs   *countingRegs
	region *virtio.Region
	rxPool *skb.Pool
	txPool *skb.Pool
	large  *skb.Pool
	dev    *virtiotest.Device
	table  *irq.Table
	line   *irq.Line
	sn     *napi.Softnet
	net    *virtio.Net

	mu   sync.Mutex
	cond *sync.Cond
	// +checklocks:mu
	frames [][]byte
	// +checklocks:mu
	held []*skb.Buffer
	// +checklocks:mu
	meta []skb.Buffer // IPSummed, Ifindex, Trace of each delivery
	// +checklocks:mu
	faults []error
	// +checklocks:mu
	links []bool
	// +checklocks:mu
	delivered int
}

func newHarness(t testing.TB, o opts) *harness {
	t.Helper()
	if o.queue == 0 {
		o.queue = 256
	}
	if o.rxBufs == 0 {
		o.rxBufs = 2 * o.queue
	}
	h := &harness{t: t, region: virtio.NewRegion(0x4000_0000, 64<<20)}
	h.cond = sync.NewCond(&h.mu)
	var err error
	if h.rxPool, err = skb.NewPool("rx", 2048, o.rxBufs, virtio.PoolMemory(h.region)); err != nil {
		t.Fatal(err)
	}
	if h.txPool, err = skb.NewPool("tx", 2048, 2048, virtio.PoolMemory(h.region)); err != nil {
		t.Fatal(err)
	}
	if o.large > 0 {
		if h.large, err = skb.NewPool("large", 16384, o.large, virtio.PoolMemory(h.region)); err != nil {
			t.Fatal(err)
		}
	}
	h.dev = virtiotest.New(virtiotest.Config{
		Region:       h.region,
		MAC:          devMAC,
		QueueNumMax:  o.queue,
		Features:     o.features,
		StartIdx:     o.start,
		LinkDown:     o.linkDown,
		OnTX:         o.onTX,
		RxQueueLimit: o.rxLimit,
	})
	h.table = &irq.Table{}
	h.sn = napi.NewSoftnet(napi.Config{BusyPollNs: o.busyPollNs})
	cfg := virtio.NetConfig{
		RxPool:      h.rxPool,
		LargePool:   h.large,
		Ifindex:     2,
		Softnet:     h.sn,
		TxQueueLen:  o.txQueueLen,
		RefillRetry: o.refill,
		NapiTx:      !o.noNapiTx,
		NoTrace:     o.noTrace,
		DeviceFence: o.fence,
		OnFault: func(err error) {
			h.mu.Lock()
			h.faults = append(h.faults, err)
			h.mu.Unlock()
		},
		OnLink: func(up bool) {
			h.mu.Lock()
			h.links = append(h.links, up)
			h.cond.Broadcast()
			h.mu.Unlock()
		},
	}
	if o.deliver != nil {
		cfg.Deliver = func(b *skb.Buffer) {
			o.deliver(b)
			h.mu.Lock()
			h.delivered++
			h.cond.Broadcast()
			h.mu.Unlock()
		}
	} else {
		cfg.Deliver = func(b *skb.Buffer) {
			h.mu.Lock()
			h.frames = append(h.frames, append([]byte(nil), b.Data()...))
			h.meta = append(h.meta, skb.Buffer{IPSummed: b.IPSummed, Ifindex: b.Ifindex, Trace: b.Trace})
			h.delivered++
			if o.hold {
				h.held = append(h.held, b)
			} else {
				b.Free()
			}
			h.cond.Broadcast()
			h.mu.Unlock()
		}
	}
	h.regs = &countingRegs{Device: h.dev}
	h.net, err = virtio.NewNetAt(h.regs, h.region, cfg, o.start)
	if err != nil {
		t.Fatal(err)
	}
	h.line = irq.NewLine(h.table, testVector, nil)
	h.dev.SetLine(h.line)
	if err := h.table.Register(testVector, "virtio-net", h.net.Interrupt); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.close)
	if !o.noRun {
		go h.sn.Run()
		// Let the polls virtnet_open schedules run, so that the frames a
		// test injects are found by interrupt-driven polls.
		waitUntil(t, "first polls", func() bool {
			for _, n := range h.sn.Stats().NAPIs {
				if n.Polls == 0 {
					return false
				}
			}
			return true
		})
	}
	return h
}

// close shuts everything down and checks that no buffer leaked.
func (h *harness) close() {
	h.net.Close()
	h.line.Close()
	h.sn.Stop()
	h.mu.Lock()
	for _, b := range h.held {
		b.Free()
	}
	h.held = nil
	h.mu.Unlock()
	for _, p := range []*skb.Pool{h.rxPool, h.txPool, h.large} {
		if p == nil {
			continue
		}
		if s := p.Stats(); s.InUse != 0 || s.DoubleFree != 0 {
			h.t.Errorf("pool %s: %d buffers in use after Close, %d double frees", p.Name(), s.InUse, s.DoubleFree)
		}
	}
}

// frame builds an Ethernet frame carrying seq.
func frame(seq int, size int) []byte {
	if size < 14+4 {
		size = 14 + 4
	}
	f := make([]byte, size)
	copy(f[0:6], devMAC[:])
	copy(f[6:12], peerMAC[:])
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	binary.BigEndian.PutUint32(f[14:], uint32(seq))
	for i := 18; i < size; i++ {
		f[i] = byte(seq + i)
	}
	return f
}

func seqOf(f []byte) int { return int(binary.BigEndian.Uint32(f[14:])) }

// waitFor waits until cond holds, failing after a generous timeout that
// only guards against hangs. cond takes the locks it needs (linkStates,
// faultCount, deliveredCount).
func (h *harness) waitFor(what string, cond func() bool) {
	h.t.Helper()
	waitUntil(h.t, what, cond)
}

// linkStates returns the link changes OnLink reported, in order.
func (h *harness) linkStates() []bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]bool(nil), h.links...)
}

// faultCount returns the number of faults OnFault reported.
func (h *harness) faultCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.faults)
}

// deliveredCount returns the number of frames delivered.
func (h *harness) deliveredCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.delivered
}

// waitUntil polls cond until it holds or 20 s pass.
func waitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(200 * time.Microsecond)
	}
}

func (h *harness) waitDelivered(n int) {
	h.t.Helper()
	h.waitFor("deliveries", func() bool { return h.deliveredCount() >= n })
}

// send injects n frames from seq first, in bursts no larger than burst,
// waiting for each burst to be delivered.
func (h *harness) send(first, n, burst, size int) {
	h.t.Helper()
	for i := 0; i < n; {
		h.mu.Lock()
		base := h.delivered
		h.mu.Unlock()
		k := min(burst, n-i)
		for j := 0; j < k; j++ {
			if !h.dev.Inject(frame(first+i+j, size), virtiotest.RxOptions{}) {
				h.t.Fatalf("frame %d dropped by the device", first+i+j)
			}
		}
		h.waitDelivered(base + k)
		i += k
	}
}

// transmit sends a frame from the TX pool.
func (h *harness) transmit(seq, size int) error {
	b := h.txPool.Get()
	if b == nil {
		h.t.Fatal("tx pool empty")
	}
	b.Reserve(h.net.Headroom())
	copy(b.Put(size), frame(seq, size))
	return h.net.Transmit(b)
}

func (h *harness) faultKinds() []virtio.FaultKind {
	h.mu.Lock()
	defer h.mu.Unlock()
	var ks []virtio.FaultKind
	for _, err := range h.faults {
		var f *virtio.Fault
		if errors.As(err, &f) {
			ks = append(ks, f.Kind)
		}
	}
	return ks
}

// checkRxAccounting verifies that the receive pool holds exactly what the
// ring and the test hold, once the driver has settled.
func (h *harness) checkRxAccounting() {
	h.t.Helper()
	var in, posted, held int
	ok := false
	deadline := time.Now().Add(20 * time.Second)
	for !ok && time.Now().Before(deadline) {
		h.mu.Lock()
		held = len(h.held)
		in = h.rxPool.InUse()
		posted = h.net.Stats().RX.Posted
		ok = in == posted+held
		h.mu.Unlock()
		if !ok {
			time.Sleep(time.Millisecond)
		}
	}
	if !ok {
		h.t.Fatalf("rx pool: %d in use, ring holds %d, test holds %d", in, posted, held)
	}
	if ps := h.rxPool.Stats(); ps.DoubleFree != 0 {
		h.t.Fatalf("rx pool: %d double frees", ps.DoubleFree)
	}
}

// txRecorder keeps a copy of every frame the device transmits: pass its
// record as opts.onTX.
type txRecorder struct {
	mu sync.Mutex
	// +checklocks:mu
	frames [][]byte
}

func (r *txRecorder) record(f []byte) {
	r.mu.Lock()
	r.frames = append(r.frames, append([]byte(nil), f...))
	r.mu.Unlock()
}

// sent returns the frames transmitted so far.
func (r *txRecorder) sent() [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.frames[:len(r.frames):len(r.frames)]
}
