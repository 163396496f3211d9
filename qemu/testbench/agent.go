package testbench

import (
	"fmt"
	"net/netip"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/kaidoku-net/kaidoku/image/agent"
	"github.com/kaidoku-net/kaidoku/image/agent/agentproto"
)

// TestHost is the address the image's test agent answers by default.
var TestHost = netip.MustParseAddr("10.0.2.2")

// Agent drives the image's test agent (package image/agent) over the
// bench. Calls may run concurrently: each uses its own source port, so
// a blocked receive does not hold others up.
type Agent struct {
	b       *Bench
	port    uint16
	src     netip.Addr
	srcPort atomic.Uint32
	id      atomic.Uint64
	calls   atomic.Uint64
	// Timeout bounds how long a call waits for its answer (10 s).
	Timeout time.Duration
}

// Agent returns a client for the agent on the guest's port, calling from
// TestHost.
func (b *Bench) Agent(port uint16) *Agent {
	a := &Agent{b: b, port: port, src: TestHost, Timeout: 10 * time.Second}
	a.srcPort.Store(42000)
	return a
}

// From returns a copy of the client that calls from src (to test the
// agent's access control).
func (a *Agent) From(src netip.Addr) *Agent {
	c := &Agent{b: a.b, port: a.port, src: src, Timeout: a.Timeout}
	c.srcPort.Store(a.srcPort.Add(1000))
	return c
}

// Call performs one request.
func (a *Agent) Call(req agent.Request) (*agent.Response, error) {
	req.ID = a.id.Add(1)
	a.calls.Add(1)
	b, err := agentproto.EncodeRequest(&req)
	if err != nil {
		return nil, err
	}
	src := netip.AddrPortFrom(a.src, uint16(a.srcPort.Add(1)))
	reply, err := a.b.Request(src, a.port, b, a.Timeout)
	if err != nil {
		return nil, fmt.Errorf("agent %s: %w", req.Op, err)
	}
	r, err := agentproto.DecodeResponse(reply)
	if err != nil {
		return nil, fmt.Errorf("agent %s: %w", req.Op, err)
	}
	if r.ID != req.ID {
		return nil, fmt.Errorf("agent %s: reply to request %d, want %d", req.Op, r.ID, req.ID)
	}
	return r, nil
}

// Calls returns how many requests this client has sent: each is one UDP
// datagram into the guest and one out, which counter checks discount.
func (a *Agent) Calls() uint64 { return a.calls.Load() }

// Errno returns the call's errno as a syscall.Errno (0 on success).
func Errno(r *agent.Response) syscall.Errno { return syscall.Errno(r.Errno) }

// Socket creates a UDP socket and returns its descriptor.
func (a *Agent) Socket() (int, error) {
	r, err := a.Call(agent.Request{Op: agent.OpSocket})
	if err != nil {
		return 0, err
	}
	if r.Errno != 0 {
		return 0, syscall.Errno(r.Errno)
	}
	return r.FD, nil
}

// Do performs a call that succeeds or fails with an errno and returns the
// errno (0 on success); transport failures are errors.
func (a *Agent) Do(req agent.Request) (syscall.Errno, error) {
	r, err := a.Call(req)
	if err != nil {
		return 0, err
	}
	return Errno(r), nil
}

// Counters reads MIB counters by name, e.g. "Udp.NoPorts".
func (a *Agent) Counters(names ...string) (map[string]uint64, error) {
	r, err := a.Call(agent.Request{Op: agent.OpCounters, Names: names})
	if err != nil {
		return nil, err
	}
	if r.Errno != 0 {
		return nil, fmt.Errorf("agent counters: %s", r.Err)
	}
	return r.Counters, nil
}
