package virtio_test

import (
	"sync/atomic"
	"testing"

	"github.com/kaidoku-net/kaidoku/irq"
	"github.com/kaidoku-net/kaidoku/napi"
	"github.com/kaidoku-net/kaidoku/netstack/skb"
	"github.com/kaidoku-net/kaidoku/virtio"
	"github.com/kaidoku-net/kaidoku/virtio/virtiotest"
)

// benchRig is the image's wiring with a counting Deliver and TX sink.
type benchRig struct {
	dev       *virtiotest.Device
	net       *virtio.Net
	sn        *napi.Softnet
	line      *irq.Line
	got, sent atomic.Int64
	target    atomic.Int64
	done      chan struct{}
}

func newBenchRig(b *testing.B, reflect bool) *benchRig {
	r := &benchRig{done: make(chan struct{}, 1)}
	region := virtio.NewRegion(0x4000_0000, 16<<20)
	pool, err := skb.NewPool("rx", 2048, 1024, virtio.PoolMemory(region))
	if err != nil {
		b.Fatal(err)
	}
	signal := func(n int64) {
		if n == r.target.Load() {
			r.done <- struct{}{}
		}
	}
	r.dev = virtiotest.New(virtiotest.Config{Region: region, MAC: devMAC, OnTX: func([]byte) { signal(r.sent.Add(1)) }})
	table := &irq.Table{}
	r.sn = napi.NewSoftnet(napi.Config{})
	cfg := virtio.NetConfig{RxPool: pool, Softnet: r.sn, Ifindex: 2, Deliver: func(b *skb.Buffer) {
		b.Free()
		signal(r.got.Add(1))
	}}
	r.net, err = virtio.NewNet(r.dev, region, cfg)
	if err != nil {
		b.Fatal(err)
	}
	if reflect {
		r.net.SetXDP(swapMAC)
	}
	r.line = irq.NewLine(table, testVector, nil)
	r.dev.SetLine(r.line)
	table.Register(testVector, "virtio-net", r.net.Interrupt)
	go r.sn.Run()
	b.Cleanup(func() {
		r.net.Close()
		r.line.Close()
		r.sn.Stop()
	})
	return r
}

// run pushes b.N frames through in bursts, waiting for each burst to come
// out (delivered, or reflected and transmitted).
func (r *benchRig) run(b *testing.B, burst int, counter *atomic.Int64) {
	f := frame(1, 64)
	// Warm up: every pool buffer and every ring slot touched once.
	r.burst(f, 2048, counter)
	st0 := r.dev.Stats()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += burst {
		r.burst(f, min(burst, b.N-i), counter)
	}
	b.StopTimer()
	st := r.dev.Stats()
	b.ReportMetric(float64(st.Interrupts-st0.Interrupts)/float64(b.N), "irqs/op")
	b.ReportMetric(float64(st.Notifies[0]+st.Notifies[1]-st0.Notifies[0]-st0.Notifies[1])/float64(b.N), "kicks/op")
}

func (r *benchRig) burst(f []byte, n int, counter *atomic.Int64) {
	r.target.Store(counter.Load() + int64(n))
	for j := 0; j < n; j++ {
		for !r.dev.Inject(f, virtiotest.RxOptions{}) {
		}
	}
	<-r.done
}

// BenchmarkRX is the receive path per frame: device model writes the
// frame, interrupt line, handler, NAPI poll, Deliver, refill.
func BenchmarkRX(b *testing.B) {
	r := newBenchRig(b, false)
	r.run(b, 64, &r.got)
}

// BenchmarkReflect is the reflector per frame: receive, an XDP program
// swapping the MACs, XDP_TX, device sends, completion reclaimed.
func BenchmarkReflect(b *testing.B) {
	r := newBenchRig(b, true)
	r.run(b, 64, &r.sent)
}

// BenchmarkRXOneByOne sends one frame at a time and waits for it: every
// frame costs an interrupt, a wakeup of the softnet goroutine and a NAPI
// completion, the latency-bound case.
func BenchmarkRXOneByOne(b *testing.B) {
	r := newBenchRig(b, false)
	r.run(b, 1, &r.got)
}
