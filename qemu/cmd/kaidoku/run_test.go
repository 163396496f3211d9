package main

import (
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/kaidoku-net/kaidoku/qemu"
)

func TestParseForwards(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []qemu.Forward
		err  string
	}{
		{"", nil, ""},
		{"10053:53", []qemu.Forward{{HostPort: 10053, GuestPort: 53}}, ""},
		{"10053:53, 11111:11111,", []qemu.Forward{{HostPort: 10053, GuestPort: 53}, {HostPort: 11111, GuestPort: 11111}}, ""},
		{"0:7", []qemu.Forward{{HostPort: 0, GuestPort: 7}}, ""},
		{"53", nil, `bad forward "53"`},
		{"1:0", nil, `bad forward "1:0"`},
		{"70000:53", nil, `bad forward "70000:53"`},
		{"a:b", nil, `bad forward "a:b"`},
	} {
		got, err := parseForwards(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("parseForwards(%q): error %v, want one containing %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("parseForwards(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestHostPortFree(t *testing.T) {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	port := c.LocalAddr().(*net.UDPAddr).Port
	err = hostPortFree(port)
	if err == nil || !strings.Contains(err.Error(), "already in use") || !strings.Contains(err.Error(), "-fwd") {
		t.Errorf("port in use: %v, want an error saying so and naming -fwd", err)
	}
	c.Close()
	if err := hostPortFree(port); err != nil {
		t.Errorf("port free again: %v", err)
	}
}

func TestIsLocal(t *testing.T) {
	for _, tc := range []struct {
		pkg  string
		want bool
	}{
		{".", true}, {"./image/dns", true}, {"../x", true}, {"/abs/dir", true},
		{"github.com/kaidoku-net/kaidoku/image/dns", false}, {"image/dns", false},
	} {
		if got := isLocal(tc.pkg); got != tc.want {
			t.Errorf("isLocal(%q) = %v, want %v", tc.pkg, got, tc.want)
		}
	}
}

// kaidoku run refuses guest memory a kaidoku image cannot boot in, with
// the figure it needs, before it starts QEMU (which would hang silently).
func TestRunTooLittleMemory(t *testing.T) {
	for _, m := range []string{"256", "1535"} {
		err := run([]string{"-m", m, "-net", "none", "no-such.elf"})
		if err == nil || !strings.Contains(err.Error(), "needs at least 1536 MiB") {
			t.Errorf("-m %s: %v", m, err)
		}
	}
}
