package config

import (
	"net/netip"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kaidoku-net/kaidoku/board/cmdline"
)

var kaidoku, gvisor = Kaidoku, GVisorEcho

// defaults returns kaidoku's default configuration, for the cases to
// change.
func defaults() Config {
	return Config{
		Addr:    netip.MustParsePrefix("10.0.2.15/24"),
		Gateway: netip.MustParseAddr("10.0.2.2"),
		Services: map[string]Service{
			"echo":    {On: true, Port: 7},
			"discard": {On: true, Port: 9},
			"stats":   {On: true, Port: 161, Allow: netip.MustParsePrefix("10.0.2.0/24")},
			"agent":   {On: true, Port: 5555, Allow: netip.MustParsePrefix("10.0.2.2/32")},
			"capture": {On: true, Port: 2002, Allow: netip.MustParsePrefix("10.0.2.2/32")},
		},
		Supervise: time.Second,
		EchoBatch: DefaultEchoBatch,
		Trace:     true,
		Test:      TestHooks{Exit: -1},
	}
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name  string
		img   Image
		lines []string
		want  func(c *Config)
		errs  []string
	}{
		{name: "defaults", img: kaidoku, lines: []string{"", ""}},
		{
			// The issue: panic=-1 made the image panic once READY.
			name: "Linux's words and the old bare words change nothing", img: kaidoku,
			lines: []string{"console=ttyS0 panic=-1 quiet loglevel=3 earlyprintk=ttyS0 tsc_early_khz=2000 root=/dev/vda init=/init rw ro " +
				"panic exit=3 clocktest=1s ip=192.168.1.2/16 gw=none mode=reflector services=echo busypoll=1s napi.threaded " +
				"stats.console=1s supervise=off pcap tsc_khz=1 echo.port=1 stats.allow=any test.panic trace=off virtio_mmio.device=512@0xfeb00e00:12"},
		},
		{
			name: "every word", img: kaidoku,
			lines: []string{"kaidoku.addr=192.168.7.2/16 kaidoku.gw=none kaidoku.mode=reflector kaidoku.services=echo,stats " +
				"kaidoku.echo.port=10007 kaidoku.discard.port=10009 kaidoku.stats.port=10161 kaidoku.agent.port=15555 " +
				"kaidoku.stats.allow=10.1.0.0/16 kaidoku.agent.allow=any kaidoku.busypoll=200us kaidoku.napi.threaded " +
				"kaidoku.supervise=off kaidoku.stats.console=250ms kaidoku.capture.port=12002 kaidoku.capture.allow=10.0.2.0/24 kaidoku.tsc_khz=2596138 kaidoku.xdp.drop=10.0.2.9,192.168.1.7/16 " +
				"kaidoku.test.clock=2s kaidoku.test.exit=3 kaidoku.test.panic kaidoku.echo.batch=1 kaidoku.test.xdp_abort=9 kaidoku.trace=off"},
			want: func(c *Config) {
				c.Addr = netip.MustParsePrefix("192.168.7.2/16")
				c.Gateway = netip.Addr{}
				c.Reflector = true
				c.Services = map[string]Service{
					"echo":    {On: true, Port: 10007},
					"discard": {Port: 10009},
					"stats":   {On: true, Port: 10161, Allow: netip.MustParsePrefix("10.1.0.0/16")},
					"agent":   {Port: 15555},
					"capture": {Port: 12002, Allow: netip.MustParsePrefix("10.0.2.0/24")},
				}
				c.BusyPoll = 200 * time.Microsecond
				c.Threaded = true
				c.Trace = false
				c.Supervise = 0
				c.XDPDrop = []netip.Prefix{netip.MustParsePrefix("10.0.2.9/32"), netip.MustParsePrefix("192.168.0.0/16")}
				c.ConsoleStats = 250 * time.Millisecond
				c.TSCkHz = 2596138
				c.Test = TestHooks{Clock: 2 * time.Second, Exit: 3, Panic: true, XDPAbort: 9}
				c.EchoBatch = 1
			},
		},
		{
			name: "the stats service answers the subnet of the address it ends with", img: kaidoku,
			lines: []string{"kaidoku.addr=172.16.5.9/12"},
			want: func(c *Config) {
				c.Addr = netip.MustParsePrefix("172.16.5.9/12")
				s := c.Services["stats"]
				s.Allow = netip.MustParsePrefix("172.16.0.0/12")
				c.Services["stats"] = s
			},
		},
		{
			name: "the boot line overrides the build-time line", img: kaidoku,
			lines: []string{"kaidoku.addr=10.0.0.5/24 kaidoku.services=echo kaidoku.supervise=5s", "kaidoku.supervise=2s"},
			want: func(c *Config) {
				c.Addr = netip.MustParsePrefix("10.0.0.5/24")
				c.Services = map[string]Service{
					"echo":    {On: true, Port: 7},
					"discard": {Port: 9},
					"stats":   {Port: 161, Allow: netip.MustParsePrefix("10.0.0.0/24")},
					"agent":   {Port: 5555, Allow: netip.MustParsePrefix("10.0.2.2/32")},
					"capture": {Port: 2002, Allow: netip.MustParsePrefix("10.0.2.2/32")},
				}
				c.Supervise = 2 * time.Second
			},
		},
		{
			name: "the trace: off at build time, on again at boot", img: kaidoku,
			lines: []string{"kaidoku.trace=off", "kaidoku.trace"},
		},
		{
			name: "the trace off", img: kaidoku, lines: []string{"kaidoku.trace=0"},
			want: func(c *Config) { c.Trace = false },
		},
		{
			name: "no services", img: kaidoku, lines: []string{"kaidoku.services=none"},
			want: func(c *Config) {
				for n, s := range c.Services {
					s.On = false
					c.Services[n] = s
				}
			},
		},
		{
			name: "refused values keep the defaults", img: kaidoku,
			lines: []string{"kaidoku.addr=notanip kaidoku.addr=fe80::1/64 kaidoku.addr=10.0.2.15 kaidoku.gw=10.0.2 kaidoku.mode=bridge " +
				"kaidoku.services=echo,ftp kaidoku.echo.port=0 kaidoku.echo.port=65536 kaidoku.stats.allow=everyone " +
				"kaidoku.busypoll=soon kaidoku.supervise=-1s kaidoku.stats.console=often kaidoku.tsc_khz=-5 " +
				"kaidoku.test.exit=200 kaidoku.test.panic=please kaidoku.trace=maybe kaidoku.addr kaidoku.echo.batch=0 kaidoku.echo.batch=1025 kaidoku.xdp.drop=10.0.2.9,fe80::1 kaidoku.xdp.drop=ten"},
			errs: []string{
				`kaidoku.addr=notanip: want an IPv4 address with its prefix length, such as 10.0.2.15/24, not "notanip"; keeping 10.0.2.15/24`,
				`kaidoku.addr=fe80::1/64: want an IPv4 address with its prefix length, such as 10.0.2.15/24, not "fe80::1/64"; keeping 10.0.2.15/24`,
				`kaidoku.addr=10.0.2.15: want an IPv4 address with its prefix length, such as 10.0.2.15/24, not "10.0.2.15"; keeping 10.0.2.15/24`,
				`kaidoku.gw=10.0.2: want an IPv4 address or "none", not "10.0.2"; keeping 10.0.2.2`,
				`kaidoku.mode=bridge: want stack or reflector, not "bridge"; keeping stack`,
				`kaidoku.services=echo,ftp: no service "ftp" in this image (it has echo,discard,stats,agent,capture); keeping echo,discard,stats,agent,capture`,
				`kaidoku.echo.port=0: want a UDP port, 1 to 65535, not "0"; keeping 7`,
				`kaidoku.echo.port=65536: want a UDP port, 1 to 65535, not "65536"; keeping 7`,
				`kaidoku.stats.allow=everyone: want an IPv4 prefix such as 10.0.2.0/24, or "any", not "everyone"; keeping the guest's subnet`,
				`kaidoku.busypoll=soon: want a duration such as 200us or 1s, not "soon"; keeping 0s`,
				`kaidoku.supervise=-1s: want a period such as 1s, or "off", not "-1s"; keeping 1s`,
				`kaidoku.stats.console=often: want a duration such as 200us or 1s, not "often"; keeping 0s`,
				`kaidoku.tsc_khz=-5: want a decimal number, not "-5"; keeping 0`,
				`kaidoku.test.exit=200: want an exit code from 0 to 127, not "200"; keeping none`,
				`kaidoku.test.panic=please: want on or off, not "please"; keeping off`,
				`kaidoku.trace=maybe: want on or off, not "maybe"; keeping on`,
				`kaidoku.addr: needs a value (kaidoku.addr=...); keeping 10.0.2.15/24`,
				`kaidoku.echo.batch=0: want a batch size from 1 to 1024, not "0"; keeping 32`,
				`kaidoku.echo.batch=1025: want a batch size from 1 to 1024, not "1025"; keeping 32`,
				`kaidoku.xdp.drop=10.0.2.9,fe80::1: want IPv4 prefixes or addresses, comma-separated, or "none", not "fe80::1"; keeping none`,
				`kaidoku.xdp.drop=ten: want IPv4 prefixes or addresses, comma-separated, or "none", not "ten"; keeping none`,
			},
		},
		{
			name: "unknown words", img: kaidoku,
			lines: []string{"kaidoku.bogus=1 console=ttyS0 kaidoku.ip=10.0.0.1/8 kaidoku.test.reboot kaidoku.pcap"},
			errs:  []string{`Unknown kernel command line parameters "kaidoku.bogus=1 kaidoku.ip=10.0.0.1/8 kaidoku.test.reboot kaidoku.pcap", ignored`},
		},
		{
			name: "gvisor-echo: its services, its words", img: gvisor,
			lines: []string{"kaidoku.addr=10.0.0.5/24 kaidoku.services=stats kaidoku.napi.threaded kaidoku.supervise=off kaidoku.trace=off " +
				"kaidoku.mode=reflector kaidoku.agent.port=1 kaidoku.pcap kaidoku.stats.console=1s kaidoku.test.panic kaidoku.echo.batch=4"},
			want: func(c *Config) {
				c.Addr = netip.MustParsePrefix("10.0.0.5/24")
				c.Services = map[string]Service{
					"echo":  {Port: 7},
					"stats": {On: true, Port: 161, Allow: netip.MustParsePrefix("10.0.0.0/24")},
				}
				c.Threaded = true
				c.Trace = false
				c.Supervise = 0
				c.EchoBatch = 0
			},
			errs: []string{`Unknown kernel command line parameters "kaidoku.mode=reflector kaidoku.agent.port=1 kaidoku.pcap kaidoku.stats.console=1s kaidoku.test.panic kaidoku.echo.batch=4", ignored`},
		},
		{
			name: "gvisor-echo: no discard service", img: gvisor, lines: []string{"kaidoku.services=echo,discard"},
			want: func(c *Config) {
				c.Services = map[string]Service{
					"echo":  {On: true, Port: 7},
					"stats": {On: true, Port: 161, Allow: netip.MustParsePrefix("10.0.2.0/24")},
				}
				c.EchoBatch = 0
			},
			errs: []string{`kaidoku.services=echo,discard: no service "discard" in this image (it has echo,stats); keeping echo,stats`},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := defaults()
			if tc.want != nil {
				tc.want(&want)
			} else if tc.img.Services[len(tc.img.Services)-1] != "capture" {
				t.Fatal("a case for another image must say what it wants")
			}
			got, errs := Parse(tc.img, tc.lines...)
			if !reflect.DeepEqual(*got, want) {
				t.Errorf("got\n%+v\nwant\n%+v", *got, want)
			}
			var texts []string
			for _, err := range errs {
				texts = append(texts, err.Error())
			}
			if !reflect.DeepEqual(texts, tc.errs) {
				t.Errorf("errors\n%s\nwant\n%s", strings.Join(texts, "\n"), strings.Join(tc.errs, "\n"))
			}
		})
	}
}

// The test hooks are reached only through kaidoku.test.*: nothing a user
// types for Linux, nor kaidoku's other words, sets them.
func TestHooksOnlyUnderTest(t *testing.T) {
	var linux []string
	for _, w := range []string{"panic", "panic=-1", "panic=1", "oops=panic", "exit=0", "clocktest=1s", "test.panic", "kaidoku.panic",
		"kaidoku.exit=0", "kaidoku.clocktest=1s", "kaidoku.test", "kaidoku.test=panic", "init=/bin/sh", "-- kaidoku.test.panic kaidoku.test.exit=0"} {
		linux = append(linux, w)
		c, _ := Parse(kaidoku, w)
		if c.Test != (TestHooks{Exit: -1}) {
			t.Errorf("%q sets the test hooks: %+v", w, c.Test)
		}
	}
	if c, _ := Parse(kaidoku, strings.Join(linux, " ")); c.Test != (TestHooks{Exit: -1}) {
		t.Errorf("all of them together set the test hooks: %+v", c.Test)
	}
	for _, p := range Params(kaidoku) {
		if p.Test() != strings.HasPrefix(p.Usage, "test only:") {
			t.Errorf("kaidoku.%s: Test() %v, usage %q", p.Name, p.Test(), p.Usage)
		}
	}
}

// README's "Kernel command line" section lists every word with its
// default.
func TestREADMEListsEveryWord(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n## Kernel command line\n")
	if !ok {
		t.Fatal(`README has no "## Kernel command line" section`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	for _, p := range Params(kaidoku) {
		row := ""
		for _, l := range strings.Split(section, "\n") {
			if strings.HasPrefix(l, "| `"+cmdline.Namespace+p.Name) {
				row = l
			}
		}
		if row == "" {
			t.Errorf("README does not list %s%s", cmdline.Namespace, p.Name)
			continue
		}
		if !strings.Contains(row, p.Default) {
			t.Errorf("README's row for %s%s does not give its default %q: %s", cmdline.Namespace, p.Name, p.Default, row)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add("console=ttyS0 panic=-1 kaidoku.addr=10.0.0.5/24 kaidoku.stats.allow=any kaidoku.bogus=1")
	f.Add("kaidoku.services=echo,,stats kaidoku.gw=none kaidoku.test.exit=0")
	f.Fuzz(func(t *testing.T, line string) {
		for _, img := range []Image{kaidoku, gvisor} {
			c, _ := Parse(img, line)
			if !c.Addr.Addr().Is4() || (c.Gateway.IsValid() && !c.Gateway.Is4()) {
				t.Fatalf("%q: address %v, gateway %v", line, c.Addr, c.Gateway)
			}
			for _, name := range img.Services {
				s, ok := c.Services[name]
				if !ok || s.Port == 0 || (s.Allow.IsValid() && !s.Allow.Addr().Is4()) {
					t.Fatalf("%q: service %s: %+v, %v", line, name, s, ok)
				}
			}
			if c.BusyPoll < 0 || c.Supervise < 0 || c.ConsoleStats < 0 || c.Test.Exit > 127 {
				t.Fatalf("%q: %+v", line, c)
			}
		}
	})
}
