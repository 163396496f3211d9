//go:build linux

package main

import (
	"net"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/kaidoku-net/kaidoku/image/agent/agentproto"
)

// The Linux agent's calls run against the host's own kernel here, on
// 127.0.0.1: the same system calls the guest makes.

func freePort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

func TestAgentCalls(t *testing.T) {
	if err := setupInterrupt(); err != nil {
		t.Fatal(err)
	}
	s := newAgent(defaultTestHost)
	do := func(req agentproto.Request) *agentproto.Response {
		t.Helper()
		return s.handle(&req)
	}
	a, b := do(agentproto.Request{Op: agentproto.OpSocket}).FD, do(agentproto.Request{Op: agentproto.OpSocket}).FD
	defer do(agentproto.Request{Op: agentproto.OpClose, FD: a})
	defer do(agentproto.Request{Op: agentproto.OpClose, FD: b})
	addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	for _, tc := range []struct {
		name  string
		req   agentproto.Request
		errno syscall.Errno
		check func(*agentproto.Response) bool
	}{
		{"rcvbuf doubled", agentproto.Request{Op: agentproto.OpSetInt, FD: a, Level: syscall.SOL_SOCKET, Name: syscall.SO_RCVBUF, Value: 10000}, 0, nil},
		{"rcvbuf", agentproto.Request{Op: agentproto.OpGetInt, FD: a, Level: syscall.SOL_SOCKET, Name: syscall.SO_RCVBUF}, 0,
			func(r *agentproto.Response) bool { return r.Value == 20000 }},
		{"pktinfo", agentproto.Request{Op: agentproto.OpSetInt, FD: a, Level: syscall.SOL_IP, Name: syscall.IP_PKTINFO, Value: 1}, 0, nil},
		{"bind", agentproto.Request{Op: agentproto.OpBind, FD: a, Addr: addr}, 0, nil},
		{"bind again", agentproto.Request{Op: agentproto.OpBind, FD: a, Addr: "127.0.0.1:0"}, syscall.EINVAL, nil},
		{"bind in use", agentproto.Request{Op: agentproto.OpBind, FD: b, Addr: addr}, syscall.EADDRINUSE, nil},
		{"empty", agentproto.Request{Op: agentproto.OpRecv, FD: a, Len: 10, Flags: syscall.MSG_DONTWAIT}, syscall.EAGAIN, nil},
		{"timeval EDOM", agentproto.Request{Op: agentproto.OpSetTimeval, FD: a, Level: syscall.SOL_SOCKET, Name: syscall.SO_RCVTIMEO, Usec: 1000000}, syscall.EDOM, nil},
		{"send", agentproto.Request{Op: agentproto.OpSend, FD: b, Addr: addr, Data: []byte("0123456789abcdef")}, 0,
			func(r *agentproto.Response) bool { return r.Ret == 16 }},
		{"poll", agentproto.Request{Op: agentproto.OpPoll, FD: a, Events: 1, TimeoutMs: 1000}, 0,
			func(r *agentproto.Response) bool { return r.Value == 1 }},
		{"fionread", agentproto.Request{Op: agentproto.OpIoctl, FD: a, Name: 0x541b}, 0,
			func(r *agentproto.Response) bool { return r.Value == 16 }},
		{"other ioctl", agentproto.Request{Op: agentproto.OpIoctl, FD: a, Name: 0x8915}, syscall.ENOTTY, nil},
		{"truncated", agentproto.Request{Op: agentproto.OpRecv, FD: a, Len: 10}, 0, func(r *agentproto.Response) bool {
			return r.Ret == 10 && string(r.Data) == "0123456789" && r.MsgFlags&syscall.MSG_TRUNC != 0 && r.Namelen == 16 &&
				r.Pktinfo != nil && r.Pktinfo.Addr == "127.0.0.1" && r.Pktinfo.Ifindex == 1
		}},
		{"counters", agentproto.Request{Op: agentproto.OpCounters, Names: []string{"Udp.InDatagrams", "IpExt.InBcastPkts"}}, 0,
			func(r *agentproto.Response) bool { return r.Counters["Udp.InDatagrams"] > 0 }},
		{"unknown counter", agentproto.Request{Op: agentproto.OpCounters, Names: []string{"Udp.NoSuchThing"}}, syscall.EINVAL, nil},
		{"not the agent's fd", agentproto.Request{Op: agentproto.OpClose, FD: 0}, syscall.EBADF, nil},
		{"bad op", agentproto.Request{Op: "frobnicate", FD: a}, syscall.EINVAL, nil},
	} {
		r := do(tc.req)
		if syscall.Errno(r.Errno) != tc.errno {
			t.Errorf("%s: errno %d (%s), want %d", tc.name, r.Errno, r.Err, tc.errno)
			continue
		}
		if tc.check != nil && !tc.check(r) {
			t.Errorf("%s: %+v", tc.name, r)
		}
	}

	// OpInterrupt stands in for a signal: a blocked recvmsg returns EINTR.
	done := make(chan *agentproto.Response)
	go func() { done <- do(agentproto.Request{Op: agentproto.OpRecv, FD: a, Len: 10}) }()
	time.Sleep(100 * time.Millisecond)
	do(agentproto.Request{Op: agentproto.OpInterrupt, FD: a})
	select {
	case r := <-done:
		if syscall.Errno(r.Errno) != syscall.EINTR {
			t.Errorf("interrupted recvmsg: %+v", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("interrupt did not end the blocked recvmsg")
	}
}

func TestParseProcNet(t *testing.T) {
	m := map[string]uint64{}
	parseProcNet([]byte("Ip: Forwarding DefaultTTL\nIp: 2 64\nTcp: RtoMin MaxConn\nTcp: 200 -1\nIpExt: InBcastPkts\nIpExt: 7\n"), m)
	want := map[string]uint64{"Ip.Forwarding": 2, "Ip.DefaultTTL": 64, "Tcp.RtoMin": 200, "Tcp.MaxConn": 1<<64 - 1, "IpExt.InBcastPkts": 7}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %d, want %d", k, m[k], v)
		}
	}
	if len(m) != len(want) {
		t.Errorf("%d counters, want %d: %v", len(m), len(want), m)
	}
}
