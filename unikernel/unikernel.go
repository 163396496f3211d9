package unikernel

import (
	"sync"

	"github.com/kaidoku-net/kaidoku/image/config"
	"github.com/kaidoku-net/kaidoku/netstack"
	"github.com/kaidoku-net/kaidoku/netstack/skb"
)

// Options says how [Start] brings the unikernel up. The zero value is an
// ordinary program: kaidoku's stack with the configuration of the
// command line, no stats service, READY printed when Start returns.
type Options struct {
	// Name prefixes the console lines the runtime prints ("kaidoku: ..."
	// when empty).
	Name string
	// Cmdline holds the program's own kaidoku words, read after the
	// build's (-X ...builtinCmdline) and before the boot line, which
	// overrides them: e.g. "kaidoku.addr=10.0.2.16/24".
	Cmdline string
	// Stats starts the stats service (UDP port 161, the counters of the
	// stack, the driver and NAPI; kaidoku.stats.port=,
	// kaidoku.stats.allow=), unless the command line says
	// kaidoku.services=none. Without it the command line can still start
	// it with kaidoku.services=stats.
	Stats bool
	// WaitReady leaves READY to the program, which calls [Ready] once it
	// serves; otherwise Start prints READY before it returns.
	WaitReady bool

	// The fields below are for images that bring more than a program:
	// image/kaidoku and the benchmark's gVisor peer.

	// Image lists the image's own words and services (image/config);
	// nil is a program's: the common words and the stats service. With
	// Image set, the program starts the image's services itself (the
	// runtime starts none) and reads them from System.Config.
	Image *config.Image
	// Attach, if set, puts another network stack on the device instead
	// of kaidoku's: it is called once the device is open (System.Device
	// set, frames not yet flowing) and returns the function that receives
	// every frame. net.SocketFunc is then left alone.
	Attach func(sys *System) (deliver func(*skb.Buffer), err error)
	// Ifindex is the interface's index (2, Linux's first Ethernet
	// device, when 0).
	Ifindex int
}

// System is what Start brought up.
type System struct {
	// Config is the configuration read from the command line; nil on
	// systems other than tamago.
	Config *config.Config
	// Device is the virtio-net device with its pools, softnet and
	// supervisor; nil on systems other than tamago.
	Device *Device
	// Stack is kaidoku's network stack; nil in the reflector mode, with
	// Options.Attach, and on systems other than tamago.
	Stack *netstack.Stack
}

var readyOnce sync.Once

// Ready says that the program serves: the console shows READY (once,
// whoever calls it again), which is what the launcher and the tests wait
// for before they send. It does nothing on systems other than tamago.
func Ready() { readyOnce.Do(printReady) }

// program is the image of an ordinary program: the common words, the
// stats service.
var program = config.Image{Services: []string{"stats"}}

// configure reads the configuration: the image's words (a program's
// unless Options.Image) from the build's line, Options.Cmdline and the
// boot line, in that order, so that the later wins.
func (o *Options) configure(builtin, boot string) (*config.Config, []error) {
	img, lines := program, []string{builtin, o.Cmdline, boot}
	if o.Image != nil {
		img = *o.Image
	} else if !o.Stats {
		// The program's services are its own; the stats service is on
		// only when asked for, here or on the command line.
		lines = append([]string{"kaidoku.services=none"}, lines...)
	}
	return config.Parse(img, lines...)
}

func (o *Options) name() string {
	if o.Name == "" {
		return "kaidoku"
	}
	return o.Name
}
