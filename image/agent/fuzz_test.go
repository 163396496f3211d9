package agent

import (
	"testing"

	"github.com/kaidoku-net/kaidoku/image/agent/agentproto"
	"github.com/kaidoku-net/kaidoku/netstack/socket"
)

// FuzzAgentRequest decodes arbitrary datagrams as the agent does and
// performs whatever request comes out, on a stack with sockets, queued
// data and readers: nothing may panic, every response must encode, and
// none may name another request. Calls that would block are made
// non-blocking (MSG_DONTWAIT, poll timeouts of 0, short sender bursts):
// the agent serves each request in a goroutine of its own, so blocking is
// not a fault, only slow for the fuzzer.
func FuzzAgentRequest(f *testing.F) {
	for _, r := range []Request{
		{Op: OpSocket}, {Op: OpBind, FD: 3, Addr: "0.0.0.0:7001"}, {Op: OpConnect, FD: 3, Addr: "10.0.2.9:9"},
		{Op: OpConnect, FD: 3, Unspec: true}, {Op: OpSetInt, FD: 3, Level: 1, Name: 8, Value: -1},
		{Op: OpGetInt, FD: 3, Level: 1, Name: 8}, {Op: OpSetTimeval, FD: 3, Level: 1, Name: 20, Sec: -1, Usec: 999999},
		{Op: OpGetTimeval, FD: 3, Level: 1, Name: 20}, {Op: OpSetString, FD: 3, Level: 1, Name: 25, Str: "eth0"},
		{Op: OpMembership, FD: 3, Name: 35, Group: "224.0.0.9", Iface: "10.0.2.15"},
		{Op: OpRecv, FD: 3, Len: 65536, Flags: 2}, {Op: OpRecv, FD: 3, Len: -1}, {Op: OpSend, FD: 4, Data: []byte("x"), Addr: "10.0.2.9:9"},
		{Op: OpClose, FD: 3}, {Op: OpShutdown, FD: 3, How: 2}, {Op: OpIoctl, FD: 3, Name: 0x541b}, {Op: OpPoll, FD: 3, Events: 1},
		{Op: OpNonblock, FD: 3, Value: 1}, {Op: OpInterrupt, FD: 3}, {Op: OpCounters, Names: []string{"Udp.NoPorts", "Ip.X"}},
		{Op: OpProcNetUDP}, {Op: OpReader, FD: 3, Value: -1, Len: 1 << 10}, {Op: OpReaderStats, FD: 3}, {Op: OpReaderStop, FD: 3},
		{Op: OpSendBurst, FD: 4, Addr: "10.0.2.9:9", Value: 3, Len: 8}, {Op: OpSockstat}, {Op: "frobnicate", FD: -7},
	} {
		b, _ := agentproto.EncodeRequest(&r)
		f.Add(b)
	}
	for _, s := range []string{`{"op":"recvmsg","fd":3,"len":1e99}`, `{"op":"bind","fd":3,"addr":"[::1]:80"}`, `{`, `null`,
		`{"op":"reader","fd":3,"len":-5,"value":-9}`, `{"op":"counters","names":null}`, `[]`, `{"id":-1}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, pool := newServerPool(t)
		fd := s.Handle(&Request{Op: OpSocket}).FD
		s.Handle(&Request{Op: OpBind, FD: fd, Addr: "0.0.0.0:7000"})
		s.Handle(&Request{Op: OpSocket})
		inject(t, s, pool, 7000, seq(1))
		defer closeAll(s)
		req, err := agentproto.DecodeRequest(data)
		if err != nil {
			return // the agent counts it as malformed
		}
		switch req.Op {
		case OpRecv:
			req.Flags |= socket.MsgDontwait
		case OpPoll:
			req.TimeoutMs = 0
		case OpReader:
			req.TimeoutMs = min(max(req.TimeoutMs, -1), 5)
			if req.Len > 1<<12 {
				req.Len = 1 << 12
			}
		case OpSendBurst:
			req.Value = min(req.Value, 16)
			req.TimeoutMs = min(req.TimeoutMs, 0)
		}
		resp := s.Handle(req)
		out, err := agentproto.EncodeResponse(resp)
		if err != nil {
			t.Fatalf("response to %+v does not encode: %v", req, err)
		}
		if resp.ID != req.ID {
			t.Fatalf("response id %d to request %d", resp.ID, req.ID)
		}
		if resp.Errno == 0 && resp.Ret < 0 {
			t.Fatalf("success with ret %d: %s", resp.Ret, out)
		}
	})
}

// closeAll stops every reader and sender of the server's sockets and
// closes them.
func closeAll(s *Server) {
	s.mu.Lock()
	var socks []*socket.Socket
	for _, so := range s.fds {
		socks = append(socks, so)
	}
	s.mu.Unlock()
	for _, so := range socks {
		if f := getFlow(so, false); f != nil {
			f.halt()
		}
		so.Close()
		flowsMu.Lock()
		delete(flows, so)
		flowsMu.Unlock()
	}
}
