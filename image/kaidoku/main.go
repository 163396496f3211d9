//go:build tamago

// Command kaidoku is the kaidoku unikernel: it boots on QEMU microvm,
// reports its clock and devices, brings up the virtio-net driver, NAPI and
// the network stack (package unikernel, as any program), starts its UDP
// services and serves until the VM is stopped.
//
// Its configuration is the kernel command line's kaidoku.* words (package
// image/config, listed in README's "Kernel command line"); Linux's words
// (console=, panic=, quiet, ...) are ignored. Words may also be built in:
// -ldflags "-X main.builtinCmdline=kaidoku.addr=10.0.0.5/24", which the
// boot line overrides.
package main

import (
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/kaidoku-net/kaidoku/board"
	"github.com/kaidoku-net/kaidoku/image/config"
	"github.com/kaidoku-net/kaidoku/unikernel"
)

// builtinCmdline holds kaidoku words set at build time (-ldflags -X), read
// before the boot line, as Linux's CONFIG_CMDLINE.
var builtinCmdline string

// image is what this image has beyond the common words.
var image = config.Kaidoku

func main() {
	u := unikernel.Start(unikernel.Options{
		Image:     &image,
		Cmdline:   builtinCmdline,
		WaitReady: true,
	})
	cfg := u.Config
	startServices(cfg, u)
	if cfg.ConsoleStats > 0 {
		go consoleStats(u, cfg.ConsoleStats)
	}
	fmt.Printf("kaidoku: %s via %s, mode %s, services %v\n", cfg.Addr, gatewayString(cfg), modeString(cfg), servicesLine(cfg))
	unikernel.Ready()
	runTestHooks(cfg.Test)
	select {}
}

func gatewayString(cfg *config.Config) string {
	if cfg.Gateway.IsValid() {
		return cfg.Gateway.String()
	}
	return "none"
}

func modeString(cfg *config.Config) string {
	if cfg.Reflector {
		return "reflector"
	}
	return "stack"
}

func servicesLine(cfg *config.Config) string {
	s := ""
	for _, name := range image.Services {
		if svc := cfg.Services[name]; svc.On && !cfg.Reflector {
			s += " " + name + ":" + strconv.Itoa(int(svc.Port))
		}
	}
	return "[" + s + " ]"
}

func fatal(what string, err error) {
	fmt.Printf("kaidoku: %s: %v\n", what, err)
	os.Exit(1)
}

// runTestHooks runs the diagnostics the end-to-end tests ask for with the
// kaidoku.test.* words.
func runTestHooks(h config.TestHooks) {
	if h.Clock > 0 {
		// Equal-width lines, so that the host sees the same serial delay
		// on both and can compare the two clocks' rates.
		fmt.Printf("CLOCK start %020d\n", board.Nanotime())
		time.Sleep(h.Clock)
		fmt.Printf("CLOCK end   %020d\n", board.Nanotime())
	}
	if h.Exit >= 0 {
		os.Exit(h.Exit)
	}
	if h.Panic {
		panic("panic requested on the command line (kaidoku.test.panic)")
	}
}
