package xdpprog

import (
	"net/netip"
	"testing"

	"github.com/kaidoku-net/kaidoku/xdp"
)

func TestDropSources(t *testing.T) {
	prog := DropSources([]netip.Prefix{
		netip.MustParsePrefix("10.0.2.9/32"),
		netip.MustParsePrefix("192.168.0.0/16"),
		netip.MustParsePrefix("2001:db8::/32"), // ignored
	}, nil)
	arp := append(make([]byte, 12), 0x08, 0x06)
	arp = append(arp, make([]byte, 28)...)
	for _, tc := range []struct {
		name  string
		frame []byte
		want  xdp.Action
	}{
		{"listed host", udpFrame([4]byte{10, 0, 2, 9}, [4]byte{10, 0, 2, 15}, 1, 7, 0, nil), xdp.Drop},
		{"neighbour of the listed host", udpFrame([4]byte{10, 0, 2, 8}, [4]byte{10, 0, 2, 15}, 1, 7, 0, nil), xdp.Pass},
		{"in the /16", udpFrame([4]byte{192, 168, 77, 1}, [4]byte{10, 0, 2, 15}, 1, 7, 0, nil), xdp.Drop},
		{"outside the /16", udpFrame([4]byte{192, 169, 0, 1}, [4]byte{10, 0, 2, 15}, 1, 7, 0, nil), xdp.Pass},
		{"to the listed host, not from it", udpFrame([4]byte{10, 0, 2, 15}, [4]byte{10, 0, 2, 9}, 1, 7, 0, nil), xdp.Pass},
		{"ARP", arp, xdp.Pass},
		{"IPv4 runt", udpFrame([4]byte{10, 0, 2, 9}, [4]byte{10, 0, 2, 15}, 1, 7, 0, nil)[:30], xdp.Pass},
	} {
		if _, got := run(prog, tc.frame); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	// With a next program, what is not dropped goes on to it.
	chained := DropSources([]netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}, Reflect)
	if _, got := run(chained, arp); got != xdp.TX {
		t.Errorf("ARP through the chain: %v", got)
	}
	if _, got := run(chained, udpFrame([4]byte{1, 2, 3, 4}, [4]byte{10, 0, 2, 15}, 1, 7, 0, nil)); got != xdp.Drop {
		t.Errorf("0.0.0.0/0 let a frame through: %v", got)
	}
}

type countTarget struct{ n int }

func (c *countTarget) XDPRedirect(*xdp.Buff) error { c.n++; return nil }
func (c *countTarget) XDPFlush()                   {}

func TestRedirectUDP(t *testing.T) {
	tg := &countTarget{}
	prog := RedirectUDP(7, tg)
	for _, tc := range []struct {
		name  string
		frame []byte
		want  xdp.Action
	}{
		{"to the port", udpFrame([4]byte{10, 0, 2, 2}, [4]byte{10, 0, 2, 15}, 4000, 7, 0, []byte("x")), xdp.Redirect},
		{"from the port", udpFrame([4]byte{10, 0, 2, 2}, [4]byte{10, 0, 2, 15}, 7, 4000, 0, nil), xdp.Pass},
		{"a later fragment", udpFrame([4]byte{10, 0, 2, 2}, [4]byte{10, 0, 2, 15}, 4000, 7, 10, nil), xdp.Pass},
		{"runt", udpFrame([4]byte{10, 0, 2, 2}, [4]byte{10, 0, 2, 15}, 4000, 7, 0, nil)[:36], xdp.Pass},
	} {
		var b xdp.Buff
		b.Init(tc.frame, 0, len(tc.frame))
		if got := prog(&b); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
		if tc.want == xdp.Redirect && (b.Target() != tg || b.DoRedirect() != nil) {
			t.Errorf("%s: target not set", tc.name)
		}
	}
}

func TestAbortUDP(t *testing.T) {
	prog := AbortUDP(9, Reflect)
	if _, got := run(prog, udpFrame([4]byte{10, 0, 2, 2}, [4]byte{10, 0, 2, 15}, 4000, 9, 0, nil)); got != xdp.Aborted {
		t.Errorf("to the port: %v", got)
	}
	if _, got := run(prog, udpFrame([4]byte{10, 0, 2, 2}, [4]byte{10, 0, 2, 15}, 4000, 7, 0, nil)); got != xdp.TX {
		t.Errorf("to another port: %v, want the next program's", got)
	}
	if _, got := run(AbortUDP(9, nil), udpFrame([4]byte{10, 0, 2, 2}, [4]byte{10, 0, 2, 15}, 9, 7, 0, nil)); got != xdp.Pass {
		t.Errorf("from the port: %v", got)
	}
}
