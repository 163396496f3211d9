//go:build tamago

// Package netdev brings up the board's virtio-net device for an image the
// same way for every image: the DMA packet buffer pools, the softnet, the
// driver with its supervisor, and its interrupt with NAPI polling on
// interrupt exit. Images
// differ only in what consumes the frames (kaidoku's stack, the gVisor
// netstack, or the driver's own reflector), so that benchmarks compare
// exactly that. It also renders the diagnostics every image's stats
// service shares: memory in use, the pools, interrupts and idle.
package netdev

import (
	"fmt"
	"io"
	"runtime"
	"time"

	"github.com/kaidoku-net/kaidoku/board"
	"github.com/kaidoku-net/kaidoku/irq"
	"github.com/kaidoku-net/kaidoku/napi"
	"github.com/kaidoku-net/kaidoku/netstack/skb"
	"github.com/kaidoku-net/kaidoku/virtio"
)

// Packet buffer pools. Frames are DMA buffers the device writes into and
// the stack transmits from; large buffers hold frames the device spread
// over several receive buffers and reassembled datagrams. 8192 frames
// cover the receive ring, the transmit ring and backlog, and many full
// socket receive queues; fresh DMA memory costs nothing to hand out.
const (
	FrameSize  = 2048
	FrameCount = 8192
	LargeSize  = 65536 + 128
	LargeCount = 64
)

// Config says how the device is used.
type Config struct {
	// Deliver receives every frame (the stack's netif_receive_skb);
	// unused with Reflect.
	Deliver func(*skb.Buffer)
	// Reflect makes the driver return every frame itself.
	Reflect bool
	// Ifindex and Name identify the interface: the driver stamps Ifindex
	// on received buffers (skb_iif) and names the device Name in its
	// messages, and the consumer's stack must know it by the same
	// (Device.Ifindex, Device.Name). 2 and "eth0" when unset: Linux's
	// first Ethernet device, after lo.
	Ifindex int
	Name    string
	// BusyPoll is the NAPI busy-poll window before halting (0: off).
	BusyPoll time.Duration
	// Threaded leaves every poll to the softnet goroutine instead of
	// running it on interrupt exit (Linux's threaded NAPI).
	Threaded bool
	// SuperviseEvery is the period of the supervisor's device health
	// check; 0 leaves it to the faults the driver reports.
	SuperviseEvery time.Duration
	// OnLink, if set, is called on link changes after the console line.
	OnLink func(up bool)
}

// Device is the brought-up device.
type Device struct {
	Slot    board.VirtioSlot
	Net     *virtio.Net
	Softnet *napi.Softnet
	Frames  *skb.Pool
	Large   *skb.Pool
	// Supervisor resets the device when it breaks; it and the link
	// changes report on the console.
	Supervisor *virtio.Supervisor
	// Vector is the interrupt vector, once Start has run.
	Vector int
	cfg    Config
}

// Open finds the virtio-net device, creates the pools and the softnet and
// initialises the driver, which fills its receive ring. Frames are not
// delivered until Start: the consumer can be wired to the device (its MAC
// and headroom) in between.
func Open(cfg Config) (*Device, error) {
	if cfg.Ifindex == 0 {
		cfg.Ifindex = 2
	}
	if cfg.Name == "" {
		cfg.Name = "eth0"
	}
	d := &Device{cfg: cfg}
	found := false
	for _, s := range board.VirtioDevices() {
		if s.DeviceID == 1 {
			d.Slot, found = s, true
			break
		}
	}
	if !found {
		return nil, fmt.Errorf("no virtio-net device found")
	}
	mem := board.DMAMemory{}
	var err error
	if d.Frames, err = skb.NewPool("frames", FrameSize, FrameCount, virtio.PoolMemory(mem)); err != nil {
		return nil, err
	}
	if d.Large, err = skb.NewPool("large", LargeSize, LargeCount, virtio.PoolMemory(mem)); err != nil {
		return nil, err
	}
	d.Supervisor = virtio.NewSupervisor(virtio.SupervisorConfig{
		Every: cfg.SuperviseEvery,
		Logf:  func(format string, args ...any) { fmt.Printf(format+"\n", args...) },
	})
	d.Softnet = napi.NewSoftnet(napi.Config{Now: board.Nanotime, BusyPollNs: cfg.BusyPoll.Nanoseconds()})
	d.Net, err = virtio.NewNet(board.MMIO{Base: d.Slot.Base}, mem, virtio.NetConfig{
		RxPool:    d.Frames,
		LargePool: d.Large,
		Deliver:   cfg.Deliver,
		Reflect:   cfg.Reflect,
		Ifindex:   cfg.Ifindex,
		Softnet:   d.Softnet,
		Now:       board.Nanotime,
		Name:      cfg.Name,
		OnFault:   d.Supervisor.Fault,
		OnLink: func(up bool) {
			fmt.Println("virtio-net: link up:", up)
			if cfg.OnLink != nil {
				cfg.OnLink(up)
			}
		},
	})
	if err != nil {
		return nil, err
	}
	return d, nil
}

// Start routes the device's interrupt, with NAPI polling on interrupt exit
// as Linux runs softirqs on irq_exit (or only in the softnet goroutine
// with Threaded), and starts the softnet and supervisor goroutines.
func (d *Device) Start() error {
	handler := d.Softnet.Interrupt(d.Net.Interrupt)
	if d.cfg.Threaded {
		handler = d.Net.Interrupt
	}
	v, err := irq.Attach(d.Slot.GSI, "virtio-net", handler)
	if err != nil {
		return err
	}
	d.Vector = v
	go d.Softnet.Run()
	go d.Supervisor.Run(d.Net)
	return nil
}

// Ifindex is the interface's index, stamped on every received buffer.
func (d *Device) Ifindex() int { return d.cfg.Ifindex }

// Name is the interface's name.
func (d *Device) Name() string { return d.cfg.Name }

// WriteMem prints mem_in_use_bytes, the memory the image holds: what the
// Go runtime holds from the board less what it gave back, plus the DMA
// region handed out; then its parts.
func WriteMem(w io.Writer) {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	dma := board.DMAReserved()
	fmt.Fprintf(w, "mem_in_use_bytes %d\n", int64(m.Sys-m.HeapReleased)+dma)
	fmt.Fprintf(w, "go_heap_inuse %d go_stack_inuse %d go_sys %d dma_reserved %d goroutines %d gc %d\n",
		m.HeapInuse, m.StackInuse, m.Sys, dma, runtime.NumGoroutine(), m.NumGC)
}

// WritePools prints the packet buffer pools' accounting.
func (d *Device) WritePools(w io.Writer) {
	for _, p := range []*skb.Pool{d.Frames, d.Large} {
		s := p.Stats()
		fmt.Fprintf(w, "pool %s size %d count %d in_use %d peak %d exhausted %d double_free %d\n",
			p.Name(), s.Size, s.Count, s.InUse, s.PeakInUse, s.Exhausted, s.DoubleFree)
	}
}

// WriteIRQ prints the interrupt counts and how often the CPU halted.
func WriteIRQ(w io.Writer) {
	for _, s := range irq.Default.Stats() {
		fmt.Fprintf(w, "%4d: %10d  %s\n", s.Vector, s.Count, s.Name)
	}
	halts, timer := board.IdleStats()
	fmt.Fprintf(w, "idle halts %d (timer wake-ups %d)\n", halts, timer)
}
