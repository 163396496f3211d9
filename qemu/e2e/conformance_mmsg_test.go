package e2e

// Conformance cases of recvmmsg(2) and sendmmsg(2) (net/socket.c:
// do_recvmmsg, __sys_sendmmsg), run with the rest of TestConformance
// against both targets.

import (
	"fmt"
	"strings"
	"syscall"
	"time"

	"github.com/kaidoku-net/kaidoku/image/agent"
	"github.com/kaidoku-net/kaidoku/netstack/socket"
	"github.com/kaidoku-net/kaidoku/qemu/testbench"
)

func init() { conformanceCases = append(conformanceCases, mmsgCases...) }

// recvmmsg is a recvmmsg of vlen entries of n bytes each.
func (c *cc) recvmmsg(fd, vlen, n, flags int, timeout *agent.Timespec) *agent.Response {
	c.t.Helper()
	return c.call(agent.Request{Op: agent.OpRecvmmsg, FD: fd, Vlen: vlen, Len: n, Flags: flags, Timeout: timeout})
}

// wantMmsgs checks a recvmmsg's count and each entry's msg_len, data,
// source and msg_flags.
func (c *cc) wantMmsgs(r *agent.Response, want ...agent.Mmsg) {
	c.t.Helper()
	if r.Errno != 0 {
		c.t.Errorf("recvmmsg: errno %d (%s), want %d datagrams", r.Errno, r.Err, len(want))
		return
	}
	for i := range want {
		if want[i].Addr != "" {
			want[i].Namelen = 16
		}
	}
	got := r.Msgs
	for i := range got {
		got[i].Control = nil
	}
	c.want("recvmmsg count", r.Ret, len(want))
	c.want("recvmmsg entries", fmt.Sprintf("%+v", got), fmt.Sprintf("%+v", want))
}

// sendmmsgTo returns sendmmsg entries carrying payloads to addr.
func sendmmsgTo(addr string, payloads ...string) []agent.Mmsg {
	ms := make([]agent.Mmsg, len(payloads))
	for i, p := range payloads {
		ms[i] = agent.Mmsg{Data: []byte(p), Addr: addr}
	}
	return ms
}

var mmsgCases = []confCase{
	// Each entry gets its own msg_len, source and MSG_TRUNC; MSG_TRUNC
	// in flags makes msg_len the full length; fewer datagrams than
	// entries ends on EAGAIN, which is not kept; every datagram read
	// counts InDatagrams.
	{name: "mmsg-recvmmsg-entries", run: func(c *cc) {
		fd := c.socket("0.0.0.0:6300")
		send3 := func() {
			c.send(addr(testerIP, 4300), 6300, "ten bytes!")
			c.send(addr(testerIP, 4301), 6300, strings.Repeat("b", 50))
			c.send(addr(testerIP, 4302), 6300, strings.Repeat("c", 30))
		}
		send3()
		s := c.snapshot("Udp.InDatagrams")
		c.wantMmsgs(c.recvmmsg(fd, 5, 20, socket.MsgDontwait, nil),
			agent.Mmsg{Len: 10, Data: []byte("ten bytes!"), Addr: "10.0.2.9:4300"},
			agent.Mmsg{Len: 20, Data: []byte(strings.Repeat("b", 20)), Addr: "10.0.2.9:4301", MsgFlags: socket.MsgTrunc},
			agent.Mmsg{Len: 20, Data: []byte(strings.Repeat("c", 20)), Addr: "10.0.2.9:4302", MsgFlags: socket.MsgTrunc})
		c.expect(s, map[string]int64{"Udp.InDatagrams": 3})
		c.want("SO_ERROR after a short batch", c.ok(agent.Request{Op: agent.OpGetInt, FD: fd, Level: socket.SolSocket, Name: socket.SoError}).Value, 0)
		c.wantErrno(c.recvmmsg(fd, 5, 20, socket.MsgDontwait, nil), syscall.EAGAIN)

		send3()
		c.wantMmsgs(c.recvmmsg(fd, 2, 20, socket.MsgDontwait|socket.MsgTrunc, nil),
			agent.Mmsg{Len: 10, Data: []byte("ten bytes!"), Addr: "10.0.2.9:4300"},
			agent.Mmsg{Len: 50, Data: []byte(strings.Repeat("b", 20)), Addr: "10.0.2.9:4301", MsgFlags: socket.MsgTrunc})
		c.wantMmsgs(c.recvmmsg(fd, 2, 64, socket.MsgDontwait, nil),
			agent.Mmsg{Len: 30, Data: []byte(strings.Repeat("c", 30)), Addr: "10.0.2.9:4302"})
	}},

	// MSG_WAITFORONE: a blocking socket waits for the first datagram
	// only, then takes what is queued.
	{name: "mmsg-recvmmsg-waitforone", run: func(c *cc) {
		fd := c.socket("0.0.0.0:6301")
		ch := make(chan *agent.Response, 1)
		go func() {
			r, err := c.a.Call(agent.Request{Op: agent.OpRecvmmsg, FD: fd, Vlen: 4, Len: 64, Flags: socket.MsgWaitforone})
			if err != nil {
				r = &agent.Response{Ret: -1, Errno: -1, Err: err.Error()}
			}
			ch <- r
		}()
		time.Sleep(200 * time.Millisecond)
		c.send(addr(testerIP, 4303), 6301, "first")
		select {
		case r := <-ch:
			c.wantMmsgs(r, agent.Mmsg{Len: 5, Data: []byte("first"), Addr: "10.0.2.9:4303"})
		case <-time.After(10 * time.Second):
			c.t.Fatal("recvmmsg with MSG_WAITFORONE still blocked after a datagram")
		}
		c.send(addr(testerIP, 4303), 6301, "second")
		c.send(addr(testerIP, 4303), 6301, "third")
		time.Sleep(50 * time.Millisecond)
		c.wantMmsgs(c.call(agent.Request{Op: agent.OpRecvmmsg, FD: fd, Vlen: 4, Len: 64, Flags: socket.MsgWaitforone}),
			agent.Mmsg{Len: 6, Data: []byte("second"), Addr: "10.0.2.9:4303"},
			agent.Mmsg{Len: 5, Data: []byte("third"), Addr: "10.0.2.9:4303"})
	}},

	// The timeout is checked between datagrams: a zero one has expired
	// once the first is read, and comes back zero; one not reached
	// comes back smaller. An invalid one is EINVAL; vlen 0 is 0, and
	// with MSG_ERRQUEUE the EBADF do_recvmmsg's descriptor lookup left
	// in err; MSG_CMSG_COMPAT is EINVAL.
	{name: "mmsg-recvmmsg-timeout-and-args", run: func(c *cc) {
		fd := c.socket("0.0.0.0:6302")
		for _, p := range []string{"a", "b", "c"} {
			c.send(addr(testerIP, 4304), 6302, p)
		}
		time.Sleep(50 * time.Millisecond)
		r := c.recvmmsg(fd, 3, 8, 0, &agent.Timespec{})
		c.wantMmsgs(r, agent.Mmsg{Len: 1, Data: []byte("a"), Addr: "10.0.2.9:4304"})
		c.want("zero timeout left", r.Timeout, &agent.Timespec{})
		r = c.recvmmsg(fd, 3, 8, socket.MsgDontwait, &agent.Timespec{Sec: 30})
		c.wantMmsgs(r,
			agent.Mmsg{Len: 1, Data: []byte("b"), Addr: "10.0.2.9:4304"},
			agent.Mmsg{Len: 1, Data: []byte("c"), Addr: "10.0.2.9:4304"})
		if left := r.Timeout; left == nil || left.Nsec < 0 || left.Nsec >= 1e9 || left.Sec*1e9+left.Nsec <= 0 || left.Sec*1e9+left.Nsec > 30e9 {
			c.t.Errorf("timeout left of 30s: %+v", left)
		}
		c.wantErrno(c.recvmmsg(fd, 3, 8, socket.MsgDontwait, &agent.Timespec{Nsec: 1e9}), syscall.EINVAL)
		c.wantErrno(c.recvmmsg(fd, 3, 8, socket.MsgDontwait, &agent.Timespec{Sec: -1}), syscall.EINVAL)
		c.send(addr(testerIP, 4304), 6302, "d")
		time.Sleep(50 * time.Millisecond)
		r = c.recvmmsg(fd, 0, 8, socket.MsgDontwait, nil)
		c.want("vlen 0", [2]int{r.Ret, r.Errno}, [2]int{0, 0})
		c.wantErrno(c.recvmmsg(fd, 0, 8, socket.MsgDontwait|socket.MsgErrqueue, nil), syscall.EBADF)
		c.wantErrno(c.recvmmsg(fd, 1, 8, socket.MsgDontwait|socket.MsgCmsgCompat, nil), syscall.EINVAL)
		c.wantMmsgs(c.recvmmsg(fd, 1, 8, socket.MsgDontwait, nil), agent.Mmsg{Len: 1, Data: []byte("d"), Addr: "10.0.2.9:4304"})
	}},

	// A pending error comes first (sock_error) although a datagram is
	// queued; an error that ends a batch after a datagram is kept in
	// sk_err for SO_ERROR or the next call, and the count returned.
	{name: "mmsg-recvmmsg-error-kept", run: func(c *cc) {
		con := c.socket("0.0.0.0:6303")
		c.ok(agent.Request{Op: agent.OpConnect, FD: con, Addr: "10.0.2.9:7303"})
		c.refuse(con, "", addr(testerIP, 7303), "to a closed port")
		c.send(addr(testerIP, 7303), 6303, "queued")
		time.Sleep(100 * time.Millisecond)
		c.wantErrno(c.recvmmsg(con, 2, 64, socket.MsgDontwait, nil), syscall.ECONNREFUSED)
		c.wantMmsgs(c.recvmmsg(con, 2, 64, socket.MsgDontwait, nil), agent.Mmsg{Len: 6, Data: []byte("queued"), Addr: "10.0.2.9:7303"})

		// Blocked for the second entry, the reader meets the error.
		c.send(addr(testerIP, 7303), 6303, "one")
		time.Sleep(50 * time.Millisecond)
		ch := make(chan *agent.Response, 1)
		go func() {
			r, err := c.a.Call(agent.Request{Op: agent.OpRecvmmsg, FD: con, Vlen: 2, Len: 64})
			if err != nil {
				r = &agent.Response{Ret: -1, Errno: -1, Err: err.Error()}
			}
			ch <- r
		}()
		time.Sleep(200 * time.Millisecond)
		c.refuse(con, "", addr(testerIP, 7303), "again")
		select {
		case r := <-ch:
			c.wantMmsgs(r, agent.Mmsg{Len: 3, Data: []byte("one"), Addr: "10.0.2.9:7303"})
		case <-time.After(10 * time.Second):
			c.t.Fatal("recvmmsg still blocked after the ICMP error")
		}
		c.want("SO_ERROR kept by recvmmsg", c.ok(agent.Request{Op: agent.OpGetInt, FD: con, Level: socket.SolSocket, Name: socket.SoError}).Value, int(syscall.ECONNREFUSED))
		c.want("SO_ERROR read", c.ok(agent.Request{Op: agent.OpGetInt, FD: con, Level: socket.SolSocket, Name: socket.SoError}).Value, 0)
	}},

	// A signal ending the wait for the second entry: the count is
	// returned and the error kept is the -ERESTARTSYS sock_intr_errno
	// gives a wait without timeout, which SO_ERROR reads as 512.
	{name: "mmsg-recvmmsg-interrupted", run: func(c *cc) {
		fd := c.socket("0.0.0.0:6307")
		c.send(addr(testerIP, 4307), 6307, "one")
		time.Sleep(50 * time.Millisecond)
		ch := make(chan *agent.Response, 1)
		go func() {
			r, err := c.a.Call(agent.Request{Op: agent.OpRecvmmsg, FD: fd, Vlen: 2, Len: 64})
			if err != nil {
				r = &agent.Response{Ret: -1, Errno: -1, Err: err.Error()}
			}
			ch <- r
		}()
		time.Sleep(200 * time.Millisecond)
		c.ok(agent.Request{Op: agent.OpInterrupt, FD: fd})
		select {
		case r := <-ch:
			c.wantMmsgs(r, agent.Mmsg{Len: 3, Data: []byte("one"), Addr: "10.0.2.9:4307"})
		case <-time.After(10 * time.Second):
			c.t.Fatal("recvmmsg still blocked after the interrupt")
		}
		c.want("SO_ERROR", c.ok(agent.Request{Op: agent.OpGetInt, FD: fd, Level: socket.SolSocket, Name: socket.SoError}).Value, 512)
	}},

	// Each entry has its own control buffer: IP_PKTINFO cut short in
	// each (MSG_CTRUNC, msg_controllen the room there was).
	{name: "mmsg-recvmmsg-ctrunc", run: func(c *cc) {
		fd := c.socket("0.0.0.0:6304", ipOpt(socket.IPPktinfo, 1))
		c.send(addr(testerIP, 4305), 6304, "x")
		c.send(addr(testerIP, 4305), 6304, "y")
		time.Sleep(50 * time.Millisecond)
		room := socket.CmsgLen(4)
		r := c.call(agent.Request{Op: agent.OpRecvmmsg, FD: fd, Vlen: 2, Len: 8, Flags: socket.MsgDontwait, Controllen: room})
		c.want("count", [2]int{r.Ret, r.Errno}, [2]int{2, 0})
		for i, m := range r.Msgs {
			c.want(fmt.Sprintf("entry %d flags, controllen", i), [2]int{m.MsgFlags, len(m.Control)}, [2]int{socket.MsgCtrunc, room})
		}
		r = c.call(agent.Request{Op: agent.OpRecvmmsg, FD: fd, Vlen: 2, Len: 8, Flags: socket.MsgDontwait, Controllen: socket.CmsgSpace(socket.SizeofInPktinfo)})
		c.wantErrno(r, syscall.EAGAIN)
	}},

	// sendmmsg sends each entry in order and sets its msg_len; it stops
	// at the first error, returning the count (the error only when
	// nothing was sent); MSG_CMSG_COMPAT is EINVAL.
	{name: "mmsg-sendmmsg", run: func(c *cc) {
		fd := c.socket("0.0.0.0:6305")
		s := c.snapshot("Udp.OutDatagrams")
		r := c.ok(agent.Request{Op: agent.OpSendmmsg, FD: fd, Msgs: sendmmsgTo("10.0.2.9:7305", "one", "two!", "three")})
		c.want("sendmmsg", r.Ret, 3)
		c.want("msg_len", fmt.Sprint(r.Msgs), fmt.Sprint([]agent.Mmsg{{Len: 3}, {Len: 4}, {Len: 5}}))
		for _, want := range []string{"one", "two!", "three"} {
			p, err := c.b.Next(testbench.IsUDPFrom(addr(guestIP, 6305), addr(testerIP, 7305)), 5*time.Second)
			if err != nil {
				c.t.Fatalf("datagram %q: %v", want, err)
			}
			c.want("datagram on the wire", string(p.UDPData), want)
		}
		c.expect(s, map[string]int64{"Udp.OutDatagrams": 3})

		bad := sendmmsgTo("10.0.2.9:7305", "a", "b", "c")
		bad[1].Namelen = 8
		c.want("short name second", c.ok(agent.Request{Op: agent.OpSendmmsg, FD: fd, Msgs: bad}).Ret, 1)
		bad = sendmmsgTo("10.0.2.9:7305", "a", "b")
		bad[0].Namelen = 8
		c.wantErrno(c.call(agent.Request{Op: agent.OpSendmmsg, FD: fd, Msgs: bad}), syscall.EINVAL)
		bad = sendmmsgTo("10.0.2.9:7305", "a", "b", "c")
		bad[1].Addr = "10.0.2.9:0"
		c.want("port 0 second", c.ok(agent.Request{Op: agent.OpSendmmsg, FD: fd, Msgs: bad}).Ret, 1)
		bad = append(sendmmsgTo("10.0.2.9:7305", "a", "b"), agent.Mmsg{Data: []byte("c"), Addr: "10.0.2.9:0"})
		c.want("port 0 last", c.ok(agent.Request{Op: agent.OpSendmmsg, FD: fd, Msgs: bad}).Ret, 2)
		c.wantErrno(c.call(agent.Request{Op: agent.OpSendmmsg, FD: fd, Msgs: sendmmsgTo("", "not connected")}), syscall.EDESTADDRREQ)
		c.wantErrno(c.call(agent.Request{Op: agent.OpSendmmsg, FD: fd, Flags: socket.MsgCmsgCompat, Msgs: sendmmsgTo("10.0.2.9:7305", "a")}), syscall.EINVAL)
		r = c.call(agent.Request{Op: agent.OpSendmmsg, FD: fd})
		c.want("vlen 0", [2]int{r.Ret, r.Errno}, [2]int{0, 0})
		c.b.Count(testbench.IsUDPFrom(addr(guestIP, 6305), addr(testerIP, 7305)), 200*time.Millisecond)
	}},

	// sendmmsg sends at most UIO_MAXIOV (1024) datagrams per call.
	{name: "mmsg-sendmmsg-uio-maxiov", run: func(c *cc) {
		fd := c.socket("0.0.0.0:6306")
		c.ok(agent.Request{Op: agent.OpConnect, FD: fd, Addr: "10.0.2.9:7306"})
		ms := make([]agent.Mmsg, socket.UIOMaxiov+3)
		for i := range ms {
			ms[i].Data = []byte{byte(i)}
		}
		s := c.snapshot("Udp.OutDatagrams")
		r := c.ok(agent.Request{Op: agent.OpSendmmsg, FD: fd, Msgs: ms})
		c.want("sendmmsg of 1027", r.Ret, socket.UIOMaxiov)
		c.want("last entries' msg_len", fmt.Sprint(r.Msgs[socket.UIOMaxiov-1:]), fmt.Sprint([]agent.Mmsg{{Len: 1}, {}, {}, {}}))
		c.expect(s, map[string]int64{"Udp.OutDatagrams": socket.UIOMaxiov})
		n := c.b.Count(testbench.IsUDPFrom(addr(guestIP, 6306), addr(testerIP, 7306)), 2*time.Second)
		c.want("datagrams on the wire", n, socket.UIOMaxiov)
	}},
}
