//go:build tamago

package main

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync/atomic"
	"syscall"

	"github.com/kaidoku-net/kaidoku/image/agent"
	"github.com/kaidoku-net/kaidoku/image/config"
	"github.com/kaidoku-net/kaidoku/image/stats"
	"github.com/kaidoku-net/kaidoku/netstack/socket"
	"github.com/kaidoku-net/kaidoku/unikernel"
)

func startServices(cfg *config.Config, sys *unikernel.System) {
	if sys.Stack == nil {
		return
	}
	if svc := cfg.Services["echo"]; svc.On {
		if cfg.EchoBatch > 1 {
			go echoBatch(mustBind(sys, svc.Port), cfg.EchoBatch)
		} else {
			go echo(mustBind(sys, svc.Port))
		}
	}
	if svc := cfg.Services["discard"]; svc.On {
		go discard(svc.Port)
	}
	if c := cfg.Services["stats"]; c.On {
		svc := stats.New(c.Allow, sys.StatsSections(imageStats()))
		statsService.Store(svc)
		go svc.Serve(mustBind(sys, c.Port))
	}
	if svc := cfg.Services["agent"]; svc.On {
		go runAgent(mustBind(sys, svc.Port), sys, svc.Allow)
	}
	if svc := cfg.Services["capture"]; svc.On {
		go runCapture(mustBind(sys, svc.Port), sys, svc.Allow)
	}
}

func mustBind(sys *unikernel.System, port uint16) *socket.Socket {
	s, err := sys.Stack.Socket(syscall.AF_INET, syscall.SOCK_DGRAM, 0)
	if err == nil {
		err = s.Bind(&socket.Sockaddr{Family: syscall.AF_INET, Port: port})
	}
	if err != nil {
		fatal(fmt.Sprintf("bind port %d", port), err)
	}
	return s
}

// echo is RFC 862 over the stack's own socket API: a blocking RecvFrom,
// then SendTo back to the source.
func echo(s *socket.Socket) {
	buf := make([]byte, 65536)
	var from socket.Sockaddr
	for {
		n, err := s.RecvFrom(buf, 0, &from)
		if err != nil {
			continue
		}
		s.SendTo(buf[:n], 0, &from)
	}
}

// echoBatch is RFC 862 on the batch calls: recvmmsg with MSG_WAITFORONE
// (wait for one datagram, then take up to vlen already queued), then
// one sendmmsg of the replies, whose frames are posted together and
// announced to the device once. A reply that fails is skipped, as
// echo ignores SendTo's error.
func echoBatch(s *socket.Socket, vlen int) {
	in := make([]socket.Mmsghdr, vlen)
	for i := range in {
		in[i].Buf = make([]byte, 65536)
	}
	out := make([]socket.Mmsghdr, vlen)
	for {
		n, err := s.RecvMmsg(in, socket.MsgWaitforone, nil)
		if err != nil {
			continue
		}
		for i := range n {
			out[i].Buf = in[i].Buf[:in[i].Len]
			out[i].Hdr.Name, out[i].Hdr.Namelen = in[i].Hdr.Name, in[i].Hdr.Namelen
		}
		for sent := 0; sent < n; {
			k, err := s.SendMmsg(out[sent:n], 0)
			if err != nil {
				k = 1 // the first failed: skip it
			}
			sent += k
		}
	}
}

// discard is RFC 863 through the standard library: net.ListenUDP reaches
// the stack through net.SocketFunc.
func discard(port uint16) {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{Port: int(port)})
	if err != nil {
		fatal("discard", err)
	}
	buf := make([]byte, 65536)
	for {
		if _, _, err := c.ReadFromUDP(buf); err != nil {
			continue
		}
	}
}

// The services that count what they refuse, for the drops section.
var (
	statsService atomic.Pointer[stats.Service]
	agentServer  atomic.Pointer[agent.Server]
)

// runAgent serves the test agent, answering only allow.
func runAgent(s *socket.Socket, sys *unikernel.System, allow netip.Prefix) {
	srv := agent.NewServer(sys.Stack, allow)
	agentServer.Store(srv)
	srv.Serve(s)
}

// imageStats is what the image's services add to the runtime's stats
// sections: their refusals in the drops section and the machine form.
func imageStats() unikernel.ImageStats {
	return unikernel.ImageStats{Drops: writeServiceDrops, Services: serviceCounters}
}

// serviceCounters are the services' refusal counts.
func serviceCounters() *stats.Services {
	svc := &stats.Services{}
	if s := statsService.Load(); s != nil {
		svc.Stats.Refused = s.Refused()
	}
	if a := agentServer.Load(); a != nil { // nil without the agent service
		svc.Agent = &stats.AgentService{Refused: a.Refused(), Malformed: a.Malformed()}
	}
	return svc
}

// writeServiceDrops writes the services' refusals, after the stack's drop
// reasons.
func writeServiceDrops(w io.Writer) {
	c := serviceCounters()
	var agent stats.AgentService
	if c.Agent != nil {
		agent = *c.Agent
	}
	fmt.Fprintf(w, "refused stats %d agent %d; agent malformed %d\n", c.Stats.Refused, agent.Refused, agent.Malformed)
	if cs := captureService.Load(); cs != nil {
		fmt.Fprintf(w, "refused capture %d; capture malformed %d\n", cs.Refused(), cs.Malformed())
	}
}
