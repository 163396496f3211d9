//go:build linux

package main

import (
	"fmt"
	"strconv"
	"syscall"
	"testing"

	"github.com/kaidoku-net/kaidoku/image/agent/agentproto"
)

// The batch operations against the host's kernel: sendmmsg's msg_len per
// entry and its stop at a bad entry; recvmmsg's entries with their
// sources, MSG_TRUNC and control data, and the timeout it leaves.
func TestAgentMmsg(t *testing.T) {
	s := newAgent(defaultTestHost)
	do := func(req agentproto.Request) *agentproto.Response {
		t.Helper()
		return s.handle(&req)
	}
	a, b := do(agentproto.Request{Op: agentproto.OpSocket}).FD, do(agentproto.Request{Op: agentproto.OpSocket}).FD
	defer do(agentproto.Request{Op: agentproto.OpClose, FD: a})
	defer do(agentproto.Request{Op: agentproto.OpClose, FD: b})
	addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	do(agentproto.Request{Op: agentproto.OpSetInt, FD: a, Level: syscall.SOL_IP, Name: syscall.IP_PKTINFO, Value: 1})
	if r := do(agentproto.Request{Op: agentproto.OpBind, FD: a, Addr: addr}); r.Errno != 0 {
		t.Fatal(r.Err)
	}
	if r := do(agentproto.Request{Op: agentproto.OpBind, FD: b, Addr: "127.0.0.1:0"}); r.Errno != 0 {
		t.Fatal(r.Err)
	}
	msgs := []agentproto.Mmsg{{Data: []byte("one"), Addr: addr}, {Data: []byte("two, longer"), Addr: addr}, {Data: []byte("x"), Addr: addr, Namelen: 8}}
	r := do(agentproto.Request{Op: agentproto.OpSendmmsg, FD: b, Msgs: msgs})
	if r.Errno != 0 || r.Ret != 2 || fmt.Sprint(r.Msgs) != fmt.Sprint([]agentproto.Mmsg{{Len: 3}, {Len: 11}, {}}) {
		t.Fatalf("sendmmsg: %+v", r)
	}
	r = do(agentproto.Request{Op: agentproto.OpRecvmmsg, FD: a, Vlen: 4, Len: 5, Controllen: 64, Flags: syscall.MSG_DONTWAIT,
		Timeout: &agentproto.Timespec{Sec: 60}})
	if r.Errno != 0 || r.Ret != 2 || len(r.Msgs) != 2 {
		t.Fatalf("recvmmsg: %+v", r)
	}
	from := r.Msgs[0].Addr
	if m := r.Msgs[0]; m.Len != 3 || string(m.Data) != "one" || m.Namelen != 16 || m.MsgFlags != 0 || len(m.Control) != 32 {
		t.Errorf("entry 0: %+v", m)
	}
	if m := r.Msgs[1]; m.Len != 5 || string(m.Data) != "two, " || m.Addr != from || m.MsgFlags != syscall.MSG_TRUNC || len(m.Control) != 32 {
		t.Errorf("entry 1: %+v", m)
	}
	if r.Timeout == nil || r.Timeout.Sec > 60 || r.Timeout.Sec < 50 {
		t.Errorf("timeout left: %+v", r.Timeout)
	}
	if r := do(agentproto.Request{Op: agentproto.OpRecvmmsg, FD: a, Vlen: 4, Len: 5, Flags: syscall.MSG_DONTWAIT}); syscall.Errno(r.Errno) != syscall.EAGAIN {
		t.Errorf("empty: %+v", r)
	}
}
