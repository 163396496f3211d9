//go:build tamago

package main

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/kaidoku-net/kaidoku/image/agent"
	"github.com/kaidoku-net/kaidoku/image/netdev"
	"github.com/kaidoku-net/kaidoku/netstack/socket"
)

func startServices(cfg *config, sys *system) {
	if sys.stack == nil {
		return
	}
	if cfg.services["echo"] {
		go echo(mustBind(sys, cfg.ports["echo"]))
	}
	if cfg.services["discard"] {
		go discard(cfg.ports["discard"])
	}
	if cfg.services["stats"] {
		go stats(mustBind(sys, cfg.ports["stats"]), sys, cfg.allow["stats"])
	}
	if cfg.services["agent"] {
		go runAgent(mustBind(sys, cfg.ports["agent"]), sys, cfg.allow["agent"])
	}
}

func mustBind(sys *system, port uint16) *socket.Socket {
	s, err := sys.stack.Socket(syscall.AF_INET, syscall.SOCK_DGRAM, 0)
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

// statsRefused counts datagrams the stats service dropped because of their
// source; the agent counts its own.
var (
	statsRefused atomic.Uint64
	agentServer  atomic.Pointer[agent.Server]
)

// runAgent serves the test agent, answering only allow.
func runAgent(s *socket.Socket, sys *system, allow netip.Prefix) {
	srv := agent.NewServer(sys.stack, allow)
	agentServer.Store(srv)
	srv.Serve(s)
}

func allowed(allow netip.Prefix, from *socket.Sockaddr) bool {
	return !allow.IsValid() || allow.Contains(netip.AddrFrom4(from.Addr))
}

// stats answers a datagram naming a section with the stack's counters in
// the formats of /proc/net/snmp, /proc/net/netstat, /proc/net/udp and
// /proc/net/softnet_stat, the latency histograms, the driver's, NAPI's
// and the interrupts' counters, and memory in use.
func stats(s *socket.Socket, sys *system, allow netip.Prefix) {
	req := make([]byte, 512)
	var from socket.Sockaddr
	var out bytes.Buffer
	for {
		n, err := s.RecvFrom(req, 0, &from)
		if err != nil {
			continue
		}
		if !allowed(allow, &from) {
			statsRefused.Add(1)
			continue
		}
		out.Reset()
		writeStats(&out, sys, strings.TrimSpace(string(req[:n])))
		b := out.Bytes()
		if len(b) > 65000 {
			b = b[:65000]
		}
		s.SendTo(b, 0, &from)
	}
}

// sections in the order "all" prints them.
var sections = []string{"snmp", "netstat", "udp", "softnet", "dev", "napi", "irq", "drops", "pools", "latency", "mem"}

func writeStats(w *bytes.Buffer, sys *system, section string) {
	st := sys.stack
	switch section {
	case "", "all":
		for _, s := range sections {
			fmt.Fprintf(w, "== %s\n", s)
			writeStats(w, sys, s)
		}
	case "snmp":
		st.WriteSNMP(w)
	case "netstat":
		st.WriteNetstat(w)
	case "udp":
		st.WriteProcNetUDP(w)
	case "softnet":
		ns := sys.dev.Softnet().Stats()
		sn := st.Softnet()
		sn.TimeSqueeze.Store(ns.TimeSqueeze)
		sn.Dropped.Store(ns.Dropped)
		st.WriteSoftnetStat(w)
	case "dev":
		st.WriteDevStats(w)
		w.WriteString(sys.dev.Stats().String())
	case "napi":
		w.WriteString(sys.dev.Softnet().Stats().String())
	case "irq":
		netdev.WriteIRQ(w)
	case "drops":
		st.WriteDrops(w)
		var ar, am uint64
		if a := agentServer.Load(); a != nil {
			ar, am = a.Refused(), a.Malformed()
		}
		fmt.Fprintf(w, "refused stats %d agent %d; agent malformed %d\n", statsRefused.Load(), ar, am)
	case "pools":
		sys.nd.WritePools(w)
	case "latency":
		st.UDP.Latency.WriteStats(w)
	case "latency-reset":
		st.UDP.Latency.Reset()
		w.WriteString("ok\n")
	case "mem":
		netdev.WriteMem(w)
	default:
		fmt.Fprintf(w, "unknown section %q; sections: all %s latency-reset\n", section, strings.Join(sections, " "))
	}
}
