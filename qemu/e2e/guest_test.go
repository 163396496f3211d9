package e2e

import (
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kaidoku-net/kaidoku/image/agent"
	"github.com/kaidoku-net/kaidoku/netstack/socket"
	"github.com/kaidoku-net/kaidoku/qemu"
	"github.com/kaidoku-net/kaidoku/qemu/testbench"
)

// Addresses of the conformance topology (as the checklist's, on QEMU's user-mode
// subnet): the guest, the tester T, and the test host the agent answers
// (the gateway, which the bench also plays).
var (
	guestIP  = netip.MustParseAddr("10.0.2.15")
	testerIP = netip.MustParseAddr("10.0.2.9")
)

const agentPort = 5555

// guest is a booted image wired to a bench on the datagram backend, with
// the test agent's client.
type guest struct {
	t  *testing.T
	vm *qemu.VM
	b  *testbench.Bench
	a  *testbench.Agent
}

func bootGuest(t *testing.T, append ...string) *guest {
	t.Helper()
	mac, _ := testbench.ParseMAC(qemu.MACFor(1))
	b, nd, err := testbench.Listen(mac, guestIP)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	vm := boot(t, qemu.Config{Net: nd, Append: append})
	g := &guest{t: t, vm: vm, b: b, a: b.Agent(agentPort)}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("console:\n%s", vm.Console.Text())
		}
	})
	return g
}

// call performs an agent request and fails the test on transport errors.
func (g *guest) call(req agent.Request) *agent.Response {
	g.t.Helper()
	r, err := g.a.Call(req)
	if err != nil {
		g.t.Fatal(err)
	}
	return r
}

// ok performs a request that must succeed.
func (g *guest) ok(req agent.Request) *agent.Response {
	g.t.Helper()
	r := g.call(req)
	if r.Errno != 0 {
		g.t.Fatalf("%s: %s", req.Op, r.Err)
	}
	return r
}

// socket creates a socket, sets integer options (level SOL_SOCKET unless
// given as {level, name, value}) and binds it to addr if not empty.
func (g *guest) socket(addr string, opts ...[3]int) int {
	g.t.Helper()
	fd, err := g.a.Socket()
	if err != nil {
		g.t.Fatal(err)
	}
	for _, o := range opts {
		g.ok(agent.Request{Op: agent.OpSetInt, FD: fd, Level: o[0], Name: o[1], Value: o[2]})
	}
	if addr != "" {
		g.ok(agent.Request{Op: agent.OpBind, FD: fd, Addr: addr})
	}
	return fd
}

var (
	reuseAddr = [3]int{socket.SolSocket, socket.SoReuseaddr, 1}
	reusePort = [3]int{socket.SolSocket, socket.SoReuseport, 1}
)

// recv is a MSG_DONTWAIT receive of up to n bytes.
func (g *guest) recv(fd, n, flags int) *agent.Response {
	g.t.Helper()
	return g.call(agent.Request{Op: agent.OpRecv, FD: fd, Len: n, Flags: flags | socket.MsgDontwait})
}

// send injects a UDP datagram from src to the guest's port.
func (g *guest) send(src netip.AddrPort, port uint16, payload string) {
	g.t.Helper()
	if err := g.b.SendUDP(src, port, []byte(payload)); err != nil {
		g.t.Fatal(err)
	}
}

// snap is a counter snapshot with the agent traffic it cost.
type snap struct {
	v     map[string]uint64
	calls uint64
}

func (g *guest) snapshot(names ...string) snap {
	g.t.Helper()
	v, err := g.a.Counters(names...)
	if err != nil {
		g.t.Fatal(err)
	}
	return snap{v, g.a.Calls()}
}

// agentCounted are the counters every agent request moves by one (its
// datagram in, read, and its reply out).
var agentCounted = map[string]bool{
	"Ip.InReceives": true, "Ip.InDelivers": true, "Udp.InDatagrams": true,
	"Udp.OutDatagrams": true, "Ip.OutRequests": true,
}

// expect checks the counter changes since s, discounting the agent's own
// traffic, against want (names absent from want must not have moved).
func (g *guest) expect(s snap, want map[string]int64) {
	g.t.Helper()
	names := make([]string, 0, len(s.v))
	for n := range s.v {
		names = append(names, n)
	}
	now := g.snapshot(names...)
	for _, n := range names {
		d := int64(now.v[n]) - int64(s.v[n])
		if agentCounted[n] {
			d -= int64(now.calls - s.calls)
		}
		if d != want[n] {
			g.t.Errorf("%s changed by %d, want %d", n, d, want[n])
		}
	}
}

// noFrame checks that the guest sent nothing matching within a short
// while.
func (g *guest) noFrame(what string, match func(testbench.Parsed) bool) {
	g.t.Helper()
	if n := g.b.Count(match, 300*time.Millisecond); n != 0 {
		g.t.Errorf("guest sent %d unexpected %s", n, what)
	}
}

func addr(a netip.Addr, port uint16) netip.AddrPort { return netip.AddrPortFrom(a, port) }

func errnoIs(r *agent.Response, e syscall.Errno) bool { return syscall.Errno(r.Errno) == e }

func contains(s, sub string) bool { return strings.Contains(s, sub) }
