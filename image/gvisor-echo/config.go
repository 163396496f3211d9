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

// Build-time defaults, overridable with -ldflags "-X main.defaultAddr=…".
// They match QEMU's user-mode networking and image/kaidoku.
var (
	defaultAddr     = "10.0.2.15/24"
	defaultGateway  = "10.0.2.2"
	defaultServices = "echo,stats"
)

// config is the image's configuration: build-time defaults, then the
// kernel command line (key=value words), with image/kaidoku's names for
// the parameters that apply here.
type config struct {
	addr      netip.Prefix
	gateway   netip.Addr // invalid: no default route
	echo      bool
	stats     bool
	echoPort  uint16
	statsPort uint16
	// statsAllow is who the stats service answers (invalid: anyone).
	statsAllow netip.Prefix
	busyPoll   time.Duration
}

func loadConfig() (*config, error) {
	get := func(key, def string) string {
		if v, ok := board.Param(key); ok {
			return v
		}
		return def
	}
	c := &config{}
	var err error
	if c.addr, err = netip.ParsePrefix(get("ip", defaultAddr)); err != nil || !c.addr.Addr().Is4() {
		return nil, fmt.Errorf("ip=: want an IPv4 prefix (%v)", err)
	}
	if gw := get("gw", defaultGateway); gw != "none" {
		if c.gateway, err = netip.ParseAddr(gw); err != nil || !c.gateway.Is4() {
			return nil, fmt.Errorf("gw=: want an IPv4 address (%v)", err)
		}
	}
	// services= is accepted for compatibility with image/kaidoku's
	// launchers; only echo and stats exist here, the rest are ignored.
	for _, s := range strings.Split(get("services", defaultServices), ",") {
		switch s {
		case "echo":
			c.echo = true
		case "stats":
			c.stats = true
		}
	}
	for _, p := range []struct {
		key string
		def uint16
		dst *uint16
	}{{"echo.port", 7, &c.echoPort}, {"stats.port", 161, &c.statsPort}} {
		v, err := strconv.ParseUint(get(p.key, strconv.Itoa(int(p.def))), 10, 16)
		if err != nil || v == 0 {
			return nil, fmt.Errorf("%s=: want a port (%v)", p.key, err)
		}
		*p.dst = uint16(v)
	}
	// The stats service answers the guest's subnet unless told otherwise.
	if v := get("stats.allow", c.addr.Masked().String()); v != "any" {
		if c.statsAllow, err = netip.ParsePrefix(v); err != nil {
			return nil, fmt.Errorf("stats.allow=: %v", err)
		}
	}
	if v, ok := board.Param("busypoll"); ok {
		if c.busyPoll, err = time.ParseDuration(v); err != nil {
			return nil, fmt.Errorf("busypoll=: %v", err)
		}
	}
	return c, nil
}
