package e2e

import (
	"net/netip"
	"testing"
	"time"

	"github.com/kaidoku-net/kaidoku/image/agent"
	"github.com/kaidoku-net/kaidoku/netstack/socket"
	"github.com/kaidoku-net/kaidoku/qemu/testbench"
)

// A client in the image reaches a server in the image on 127.0.0.1 and on
// the image's own address, through lo: nothing of it reaches the wire.
// A multicast the image sends to a group it joined (INADDR_ANY: found
// through the default route) is looped back to it as well as sent.
func TestConformanceLoopback(t *testing.T) {
	g := bootGuest(t)
	srv := g.socket("0.0.0.0:6100")
	cli := g.socket("")
	for _, dst := range []string{"127.0.0.1:6100", guestIP.String() + ":6100"} {
		g.ok(agent.Request{Op: agent.OpSend, FD: cli, Data: []byte(dst), Addr: dst})
		if r := g.recv(srv, 64, 0); string(r.Data) != dst {
			t.Fatalf("to %s: %+v", dst, r)
		}
	}
	g.noFrame("loopback traffic", func(p testbench.Parsed) bool {
		return p.SrcPort == 6100 || p.DstPort == 6100
	})
	group := netip.MustParseAddr("239.1.2.3")
	g.ok(agent.Request{Op: agent.OpMembership, FD: srv, Name: socket.IPAddMembership, Group: group.String()})
	g.ok(agent.Request{Op: agent.OpSend, FD: cli, Data: []byte("mc"), Addr: group.String() + ":6100"})
	if r := g.recv(srv, 64, 0); string(r.Data) != "mc" {
		t.Fatalf("multicast: %+v", r)
	}
	if n := g.b.Count(func(p testbench.Parsed) bool { return p.IPDst == group && p.DstPort == 6100 }, 300*time.Millisecond); n != 1 {
		t.Errorf("%d multicast frames on the wire, want 1", n)
	}
}
