package unikernel

import (
	"net/netip"
	"testing"

	"github.com/kaidoku-net/kaidoku/image/config"
)

func TestConfigure(t *testing.T) {
	for _, tc := range []struct {
		name          string
		opts          Options
		builtin, boot string
		addr          string
		stats, echo   bool
		statsPort     uint16
		errs          int
	}{
		{name: "defaults", addr: "10.0.2.15/24"},
		{name: "Options.Stats", opts: Options{Stats: true}, addr: "10.0.2.15/24", stats: true, statsPort: 161},
		{name: "stats from the boot line", boot: "kaidoku.services=stats kaidoku.stats.port=1161", addr: "10.0.2.15/24", stats: true, statsPort: 1161},
		{name: "stats turned off at boot", opts: Options{Stats: true}, boot: "kaidoku.services=none", addr: "10.0.2.15/24"},
		{name: "the boot line over Options.Cmdline over the build's",
			opts: Options{Cmdline: "kaidoku.addr=10.0.0.2/8"}, builtin: "kaidoku.addr=10.0.0.1/8", boot: "kaidoku.addr=10.0.0.3/8", addr: "10.0.0.3/8"},
		{name: "Options.Cmdline over the build's", opts: Options{Cmdline: "kaidoku.addr=10.0.0.2/8"}, builtin: "kaidoku.addr=10.0.0.1/8", addr: "10.0.0.2/8"},
		{name: "a program has no echo service", boot: "kaidoku.services=echo", addr: "10.0.2.15/24", errs: 1},
		{name: "an image's words", opts: Options{Image: &config.Kaidoku}, addr: "10.0.2.15/24", stats: true, statsPort: 161, echo: true},
		{name: "Linux's words ignored", boot: "console=ttyS0 panic=-1 quiet -- kaidoku.addr=1.2.3.4/8", addr: "10.0.2.15/24"},
	} {
		cfg, errs := tc.opts.configure(tc.builtin, tc.boot)
		if len(errs) != tc.errs {
			t.Errorf("%s: errors %v, want %d", tc.name, errs, tc.errs)
		}
		if cfg.Addr != netip.MustParsePrefix(tc.addr) {
			t.Errorf("%s: address %v, want %s", tc.name, cfg.Addr, tc.addr)
		}
		st := cfg.Services["stats"]
		if st.On != tc.stats || tc.stats && st.Port != tc.statsPort {
			t.Errorf("%s: stats %+v, want on %v port %d", tc.name, st, tc.stats, tc.statsPort)
		}
		if cfg.Services["echo"].On != tc.echo {
			t.Errorf("%s: echo %+v, want on %v", tc.name, cfg.Services["echo"], tc.echo)
		}
	}
}
