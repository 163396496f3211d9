//go:build tamago

package main

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/kaidoku-net/kaidoku/board"
)

// Build-time defaults, overridable with -ldflags "-X main.defaultAddr=…"
// (make image IMAGE_FLAGS='-X main.defaultAddr=10.0.0.5/24'). They match
// QEMU's user-mode networking.
var (
	defaultAddr     = "10.0.2.15/24"
	defaultGateway  = "10.0.2.2"
	defaultServices = "echo,discard,stats,agent"
	defaultTestHost = "10.0.2.2/32"
)

// config is the image's configuration: build-time defaults, then the
// kernel command line (key=value words).
type config struct {
	addr     netip.Prefix
	gateway  netip.Addr
	mode     string // "stack" or "reflector"
	services map[string]bool
	ports    map[string]uint16
	// allow holds, per service, the hosts it answers (empty: anyone).
	allow    map[string]netip.Prefix
	busyPoll time.Duration
	pcap     bool
	// threadedNAPI polls only in the softnet goroutine (napi.threaded).
	threadedNAPI bool
	// consoleStats prints counters on the console this often (0: never).
	consoleStats time.Duration
	// supervise is the device health check period (0: on faults only).
	supervise time.Duration
}

// Default service ports.
var defaultPorts = map[string]uint16{"echo": 7, "discard": 9, "stats": 161, "agent": 5555}

func loadConfig() (*config, error) {
	c := &config{mode: "stack", services: map[string]bool{}, ports: map[string]uint16{}, allow: map[string]netip.Prefix{}}
	get := func(key, def string) string {
		if v, ok := board.Param(key); ok {
			return v
		}
		return def
	}
	var err error
	if c.addr, err = netip.ParsePrefix(get("ip", defaultAddr)); err != nil || !c.addr.Addr().Is4() {
		return nil, fmt.Errorf("ip=: %v", err)
	}
	if gw := get("gw", defaultGateway); gw != "none" {
		if c.gateway, err = netip.ParseAddr(gw); err != nil {
			return nil, fmt.Errorf("gw=: %v", err)
		}
	}
	c.mode = get("mode", "stack")
	if c.mode != "stack" && c.mode != "reflector" {
		return nil, fmt.Errorf("mode=%s: want stack or reflector", c.mode)
	}
	for _, s := range strings.Split(get("services", defaultServices), ",") {
		if s != "" {
			c.services[s] = true
		}
	}
	for name, def := range defaultPorts {
		p, err := strconv.ParseUint(get(name+".port", strconv.Itoa(int(def))), 10, 16)
		if err != nil {
			return nil, fmt.Errorf("%s.port=: %v", name, err)
		}
		c.ports[name] = uint16(p)
	}
	// The test agent answers only the test host; the stats service the
	// guest's subnet unless told otherwise.
	for name, def := range map[string]string{"agent": defaultTestHost, "stats": c.addr.Masked().String()} {
		v := get(name+".allow", def)
		if v == "any" {
			continue
		}
		p, err := netip.ParsePrefix(v)
		if err != nil {
			return nil, fmt.Errorf("%s.allow=: %v", name, err)
		}
		c.allow[name] = p
	}
	if v, ok := board.Param("busypoll"); ok {
		if c.busyPoll, err = time.ParseDuration(v); err != nil {
			return nil, fmt.Errorf("busypoll=: %v", err)
		}
	}
	_, c.pcap = board.Param("pcap")
	_, c.threadedNAPI = board.Param("napi.threaded")
	if v, ok := board.Param("stats.console"); ok {
		if c.consoleStats, err = time.ParseDuration(v); err != nil || c.consoleStats <= 0 {
			return nil, fmt.Errorf("stats.console=%s: want a positive duration", v)
		}
	}
	c.supervise = time.Second
	if v, ok := board.Param("supervise"); ok {
		if v == "off" {
			c.supervise = 0
		} else if c.supervise, err = time.ParseDuration(v); err != nil || c.supervise <= 0 {
			return nil, fmt.Errorf("supervise=%s: want a positive duration or off", v)
		}
	}
	return c, nil
}
