package agent

import (
	"fmt"
	"syscall"
	"testing"

	"github.com/kaidoku-net/kaidoku/netstack/socket"
)

// The batch operations over the loopback device: sendmmsg's msg_len per
// entry and its stop at a bad entry; recvmmsg's entries with their
// sources, MSG_TRUNC and control data, and the timeout it leaves.
func TestHandleMmsg(t *testing.T) {
	s := newServer(t)
	a, b := s.Handle(&Request{Op: OpSocket}).FD, s.Handle(&Request{Op: OpSocket}).FD
	s.Handle(&Request{Op: OpSetInt, FD: a, Level: socket.SolIP, Name: socket.IPPktinfo, Value: 1})
	if r := s.Handle(&Request{Op: OpBind, FD: a, Addr: "127.0.0.1:7000"}); r.Errno != 0 {
		t.Fatal(r.Err)
	}
	if r := s.Handle(&Request{Op: OpBind, FD: b, Addr: "127.0.0.1:7001"}); r.Errno != 0 {
		t.Fatal(r.Err)
	}
	const to = "127.0.0.1:7000"
	msgs := []Mmsg{{Data: []byte("one"), Addr: to}, {Data: []byte("two, longer"), Addr: to}, {Data: []byte("x"), Addr: to, Namelen: 8}}
	r := s.Handle(&Request{Op: OpSendmmsg, FD: b, Msgs: msgs})
	if r.Errno != 0 || r.Ret != 2 || fmt.Sprint(r.Msgs) != fmt.Sprint([]Mmsg{{Len: 3}, {Len: 11}, {}}) {
		t.Fatalf("sendmmsg: %+v", r)
	}
	r = s.Handle(&Request{Op: OpRecvmmsg, FD: a, Vlen: 4, Len: 5, Controllen: 64, Flags: socket.MsgDontwait,
		Timeout: &Timespec{Sec: 60}})
	if r.Errno != 0 || r.Ret != 2 || len(r.Msgs) != 2 {
		t.Fatalf("recvmmsg: %+v", r)
	}
	if m := r.Msgs[0]; m.Len != 3 || string(m.Data) != "one" || m.Addr != "127.0.0.1:7001" || m.Namelen != 16 || m.MsgFlags != 0 || len(m.Control) != 32 {
		t.Errorf("entry 0: %+v", m)
	}
	if m := r.Msgs[1]; m.Len != 5 || string(m.Data) != "two, " || m.Addr != "127.0.0.1:7001" || m.MsgFlags != socket.MsgTrunc || len(m.Control) != 32 {
		t.Errorf("entry 1: %+v", m)
	}
	if r.Timeout == nil || r.Timeout.Sec < 50 || r.Timeout.Sec*1e9+r.Timeout.Nsec > 60e9 {
		t.Errorf("timeout left of 60s: %+v", r.Timeout)
	}
	for _, tc := range []struct {
		name string
		req  Request
		want syscall.Errno
	}{
		{"empty", Request{Op: OpRecvmmsg, FD: a, Vlen: 4, Len: 5, Flags: socket.MsgDontwait}, syscall.EAGAIN},
		{"vlen too large", Request{Op: OpRecvmmsg, FD: a, Vlen: maxVlen + 1, Len: 5}, syscall.EINVAL},
		{"bad address", Request{Op: OpSendmmsg, FD: b, Msgs: []Mmsg{{Addr: "nowhere"}}}, syscall.EINVAL},
		{"bad fd", Request{Op: OpSendmmsg, FD: 99, Msgs: msgs}, syscall.EBADF},
	} {
		if r := s.Handle(&tc.req); syscall.Errno(r.Errno) != tc.want {
			t.Errorf("%s: errno %d (%s), want %d", tc.name, r.Errno, r.Err, tc.want)
		}
	}
}
