//go:build tamago

package unikernel

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"syscall"

	"github.com/kaidoku-net/kaidoku/board"
	"github.com/kaidoku-net/kaidoku/image/config"
	"github.com/kaidoku-net/kaidoku/image/netdev"
	"github.com/kaidoku-net/kaidoku/image/stats"
	"github.com/kaidoku-net/kaidoku/image/xdpprog"
	"github.com/kaidoku-net/kaidoku/irq"
	"github.com/kaidoku-net/kaidoku/napi"
	"github.com/kaidoku-net/kaidoku/netstack"
	"github.com/kaidoku-net/kaidoku/netstack/skb"
	"github.com/kaidoku-net/kaidoku/netstack/socket"
)

// Device is the virtio-net device with its pools, softnet and supervisor.
type Device = netdev.Device

// defaultAttach is Options.Attach when the program sets none: nil
// (kaidoku's stack), or gVisor's with the gvisor build tag
// (gvisor_tamago.go).
var defaultAttach func(sys *System) (deliver func(*skb.Buffer), err error)

// builtinCmdline holds kaidoku words set at build time (-ldflags -X),
// read first, as Linux's CONFIG_CMDLINE.
var builtinCmdline string

// Start brings the unikernel up: it prints the board's banner, reads the
// configuration (the build's words, Options.Cmdline, the boot line) and
// reports the words it refused, sets os.Args from the words after "--",
// opens the virtio-net device, puts kaidoku's stack on it (or
// Options.Attach's) with net.SocketFunc pointing at it, starts NAPI,
// starts the stats service if asked, and prints READY unless
// Options.WaitReady.
//
// If the network cannot be brought up, Start prints why and powers the VM
// off with status 1: it returns only a working system.
func Start(opts Options) *System {
	name := opts.name()
	fmt.Print(board.Banner())
	cfg, errs := opts.configure(builtinCmdline, board.Cmdline())
	for _, err := range errs {
		fmt.Printf("%s: %v\n", name, err)
	}
	os.Args = append([]string{name}, initArgs(board.Cmdline())...)
	sys, err := bringUp(cfg, &opts)
	if err != nil {
		fmt.Printf("%s: network: %v\n", name, err)
		os.Exit(1)
	}
	if opts.Image == nil {
		fmt.Printf("%s: %s via %s%s\n", name, cfg.Addr, gatewayString(cfg), sys.startStats())
	}
	if !opts.WaitReady {
		Ready()
	}
	return sys
}

func printReady() { fmt.Println("READY") }

// bringUp opens the device, puts the stack on it and starts it, as
// image/netdev does for every image.
func bringUp(cfg *config.Config, opts *Options) (*System, error) {
	sys := &System{Config: cfg}
	if opts.Attach == nil {
		opts.Attach = defaultAttach
	}
	ncfg := netdev.Config{
		Ifindex:        opts.Ifindex,
		BusyPoll:       cfg.BusyPoll,
		Threaded:       cfg.Threaded,
		SuperviseEvery: cfg.Supervise,
		NoTrace:        !cfg.Trace,
	}
	// Frames flow only after Start, by which time deliver is set.
	var deliver func(*skb.Buffer)
	ncfg.Deliver = func(b *skb.Buffer) { deliver(b) }
	if cfg.Reflector {
		// Every frame goes back from the driver's poll as XDP_TX.
		ncfg.XDP = xdpprog.Reflect
	}
	if len(cfg.XDPDrop) > 0 {
		ncfg.XDP = xdpprog.DropSources(cfg.XDPDrop, ncfg.XDP)
	}
	if p := cfg.Test.XDPAbort; p != 0 && p <= 0xffff {
		ncfg.XDP = xdpprog.AbortUDP(uint16(p), ncfg.XDP)
	}
	nd, err := netdev.Open(ncfg)
	if err != nil {
		return nil, err
	}
	sys.Device = nd
	switch {
	case cfg.Reflector:
		// No stack: a frame the program passed has no protocol to go to.
		deliver = func(b *skb.Buffer) {
			nd.Net.AddRxDropped(1)
			b.Free()
		}
	case opts.Attach != nil:
		if deliver, err = opts.Attach(sys); err != nil {
			return nil, err
		}
	default:
		if sys.Stack, err = newStack(cfg, nd); err != nil {
			return nil, err
		}
		deliver = sys.Stack.Receive
	}
	if err := nd.Start(); err != nil {
		return nil, err
	}
	if sys.Stack != nil {
		sys.Stack.Up()
	}
	return sys, nil
}

// newStack is kaidoku's stack on nd, serving the standard library's
// sockets.
func newStack(cfg *config.Config, nd *netdev.Device) (*netstack.Stack, error) {
	var gw [4]byte
	if cfg.Gateway.IsValid() {
		gw = cfg.Gateway.As4()
	}
	st, err := netstack.New(netstack.Config{
		Link:      nd.Net,
		FramePool: nd.Frames,
		LargePool: nd.Large,
		Ifindex:   nd.Ifindex(),
		Name:      nd.Name(),
		Addr:      cfg.Addr.Addr().As4(),
		PrefixLen: cfg.Addr.Bits(),
		Gateway:   gw,
		Now:       board.Nanotime,
		// kaidoku.trace=off: no T2/T3, no histograms, Latency() nil.
		NoLatencyTrace: !cfg.Trace,
	})
	if err != nil {
		return nil, err
	}
	netstack.InstallSocketFunc(st)
	return st, nil
}

func gatewayString(cfg *config.Config) string {
	if cfg.Gateway.IsValid() {
		return cfg.Gateway.String()
	}
	return "none"
}

// startStats starts the stats service if the configuration has it on and
// returns what the console line says of it.
func (sys *System) startStats() string {
	svc := sys.Config.Services["stats"]
	if !svc.On || sys.Stack == nil {
		return ""
	}
	s, err := sys.Stack.Socket(syscall.AF_INET, syscall.SOCK_DGRAM, 0)
	if err == nil {
		err = s.Bind(&socket.Sockaddr{Family: syscall.AF_INET, Port: svc.Port})
	}
	if err != nil {
		return ", stats service: " + err.Error()
	}
	go stats.New(svc.Allow, sys.StatsSections(ImageStats{})).Serve(s)
	return ", stats on port " + strconv.Itoa(int(svc.Port))
}

// ImageStats is what an image's own services add to the stats service.
// An image (Options.Image) starts that service itself, with
// System.StatsSections.
type ImageStats struct {
	// Drops, if set, writes the services' refusals after the drops
	// section.
	Drops func(w io.Writer)
	// Services, if set, returns the services' counters for the machine
	// form.
	Services func() *stats.Services
}

// StatsSections are the stats service's sections (image/stats): the
// stack's, with the driver's counters after the stack's dev line, NAPI's
// softnet counters folded into softnet_stat, the napi, irq, pools and
// mem sections, what im adds, and every counter in the machine form.
// The system must have kaidoku's stack.
func (sys *System) StatsSections(im ImageStats) []stats.Section {
	st, nd := sys.Stack, sys.Device
	var out []stats.Section
	for _, sec := range stats.StackSections(st) {
		write := sec.Write
		switch sec.Name {
		case "softnet":
			sec.Write = func(w io.Writer) {
				sys.foldSoftnet()
				write(w)
			}
		case "dev":
			sec.Write = func(w io.Writer) {
				write(w)
				io.WriteString(w, nd.Net.Stats().String())
			}
			out = append(out, sec,
				stats.Section{Name: "napi", Write: func(w io.Writer) { io.WriteString(w, nd.Softnet.Stats().String()) }},
				stats.Section{Name: "irq", Write: netdev.WriteIRQ})
			continue
		case "drops":
			if im.Drops != nil {
				sec.Write = func(w io.Writer) {
					write(w)
					im.Drops(w)
				}
			}
			out = append(out, sec, stats.Section{Name: "pools", Write: nd.WritePools})
			continue
		case "counters":
			sec = stats.CountersSection(func() *stats.Snapshot { return sys.snapshot(im) })
		}
		out = append(out, sec)
	}
	return append(out, stats.Section{Name: "mem", Write: netdev.WriteMem})
}

// foldSoftnet stores NAPI's dropped and time_squeeze counts in the
// stack's softnet counters, which /proc/net/softnet_stat shows, and
// returns NAPI's counters.
func (sys *System) foldSoftnet() napi.Stats {
	ns := sys.Device.Softnet.Stats()
	sys.Stack.SetSoftnetNAPI(ns.Dropped, ns.TimeSqueeze)
	return ns
}

// snapshot is every counter of the runtime in the machine form: the
// stack's, the driver's, NAPI's (folded into softnet_stat as the softnet
// section does), the pools', the interrupts', the image's services'
// (im), the latency trace and the image's memory.
func (sys *System) snapshot(im ImageStats) *stats.Snapshot {
	st, nd := sys.Stack, sys.Device
	dev := nd.Net.Stats()
	ns := sys.foldSoftnet()
	halts, timer := board.IdleStats()
	s := &stats.Snapshot{
		Stack:   st.Counters(),
		Dev:     &dev,
		NAPI:    &ns,
		Pools:   stats.PoolsOf(nd.Frames, nd.Large),
		IRQ:     stats.IRQOf(irq.Default.Stats(), halts, timer),
		Latency: stats.LatencyOf(st.Latency()),
		Mem:     stats.ReadMem(board.DMAReserved()),
	}
	if im.Services != nil {
		s.Services = im.Services()
	}
	return s
}
