//go:build tamago

// Package netdev brings up the board's virtio-net device for an image the
// same way for every image: the DMA packet buffer pools, the softnet, the
// driver with its supervisor, and its interrupt with NAPI polling on
// interrupt exit. Images
// differ only in what consumes the frames (kaidoku's stack, the gVisor
// netstack, or an XDP program such as the reflector), so that benchmarks compare
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
	"github.com/kaidoku-net/kaidoku/xdp"
)

// Packet buffer memory. Every packet buffer lives in the board's DMA
// region (board.DMASize, 256 MiB), where the device can write received
// frames and read transmitted ones. Apart from RingReserve for the
// virtqueues, the whole region is one skb.Arena shared by the frame pool
// (receive and transmit frames, 2 KiB blocks) and the large pool (frames
// the device spread over several buffers and reassembled datagrams, each
// in the smallest block that holds it, up to 128 KiB), as Linux's skbs
// share the page allocator: neither has a count of its own.
//
// The arena is what nr_free_buffer_pages() is to Linux's udp_init: the
// stack computes udp_mem from its size (limit = 255 MiB / 4 KiB / 8 =
// 8160 pages; udp_mem 6120 8160 12240 pages, about 24, 32 and 48 MiB of
// truesize). A frame takes at most 1.6 times the truesize it is charged
// (2048 bytes for Linux's 1280), a reassembled datagram's block at most
// about 1.3 times its fragments' truesize, so the datagrams UDP may queue
// (udp_mem[2] plus one 1 MiB per-CPU batch) need at most about 80 MiB,
// the fragments reassembly may hold (ipfrag_high_thresh, 4 MiB) about
// 7 MiB, and the rings and the transmit backlog (256 + 256 + 1000
// frames) 3 MiB. The limits Linux enforces therefore run out first, and
// their losses are counted where Linux counts them (RcvbufErrors,
// MemErrors, ReasmFails). A smaller DMA region shrinks udp_mem with it.
// Should the arena run out all the same (unresolved-neighbour queues,
// which Linux bounds per neighbour only), the failure is visible: the
// asking pool's exhausted count and the arena's failed count (WritePools),
// the driver's rx drops for a multi-buffer frame, its refill runs while
// the ring cannot be refilled.
const (
	FrameSize   = 2048
	LargeSize   = 65536 + 128
	RingReserve = 1 << 20
)

// arena is the packet buffer memory once Open has run, for WriteMem.
var arena *skb.Arena

// Config says how the device is used.
type Config struct {
	// Deliver receives every frame the XDP program passes (the stack's
	// netif_receive_skb). Required.
	Deliver func(*skb.Buffer)
	// XDP, if set, is attached to the device before any frame flows
	// (xdpprog.Reflect makes the image the benchmark's reflector).
	XDP xdp.Program
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
	// NoTrace leaves received frames without the latency trace's T0/T1
	// stamps (virtio.NetConfig.NoTrace; kaidoku.trace=off).
	NoTrace bool
}

// Device is the brought-up device.
type Device struct {
	Slot    board.VirtioSlot
	Net     *virtio.Net
	Softnet *napi.Softnet
	// Arena is the packet buffer memory Frames and Large share.
	Arena  *skb.Arena
	Frames *skb.Pool
	Large  *skb.Pool
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
	if d.Arena, err = skb.NewArena(board.DMASize-RingReserve, virtio.PoolMemory(mem)); err != nil {
		return nil, err
	}
	arena = d.Arena
	if d.Frames, err = skb.NewArenaPool("frames", FrameSize, d.Arena); err != nil {
		return nil, err
	}
	if d.Large, err = skb.NewArenaPool("large", LargeSize, d.Arena); err != nil {
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
		Ifindex:   cfg.Ifindex,
		Softnet:   d.Softnet,
		Now:       board.Nanotime,
		Name:      cfg.Name,
		OnFault:   d.Supervisor.Fault,
		NoTrace:   cfg.NoTrace,
		// QEMU's TCG drops guest barriers with one vCPU; KVM keeps them.
		DeviceFence: !board.CPU.Features().KVM,
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
	if cfg.XDP != nil {
		d.Net.SetXDP(cfg.XDP)
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
// memory in use: the packet buffers handed out (as Linux counts the pages
// its skbs hold, not the memory they may come from) and the rest of the
// region handed out (the rings); then its parts.
func WriteMem(w io.Writer) {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	dma := board.DMAReserved()
	inUse := dma
	if arena != nil {
		inUse += int64(arena.Stats().InUse - arena.Size())
	}
	fmt.Fprintf(w, "mem_in_use_bytes %d\n", int64(m.Sys-m.HeapReleased)+inUse)
	fmt.Fprintf(w, "go_heap_inuse %d go_stack_inuse %d go_sys %d dma_reserved %d dma_in_use %d goroutines %d gc %d\n",
		m.HeapInuse, m.StackInuse, m.Sys, dma, inUse, runtime.NumGoroutine(), m.NumGC)
}

// WritePools prints the packet buffer pools' accounting (count is 0: the
// pools have no fixed size), then the arena's in bytes.
func (d *Device) WritePools(w io.Writer) {
	for _, p := range []*skb.Pool{d.Frames, d.Large} {
		s := p.Stats()
		fmt.Fprintf(w, "pool %s size %d count %d in_use %d peak %d exhausted %d double_free %d\n",
			p.Name(), s.Size, s.Count, s.InUse, s.PeakInUse, s.Exhausted, s.DoubleFree)
	}
	a := d.Arena.Stats()
	fmt.Fprintf(w, "pool arena size %d in_use_bytes %d peak_bytes %d exhausted %d\n",
		a.Size, a.InUse, a.Peak, a.Failed)
}

// WriteIRQ prints the interrupt counts and how often the CPU halted.
func WriteIRQ(w io.Writer) {
	for _, s := range irq.Default.Stats() {
		fmt.Fprintf(w, "%4d: %10d  %s\n", s.Vector, s.Count, s.Name)
	}
	halts, timer := board.IdleStats()
	fmt.Fprintf(w, "idle halts %d (timer wake-ups %d)\n", halts, timer)
}
