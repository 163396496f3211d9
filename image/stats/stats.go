// Package stats is the image's stats service: a datagram naming a section
// is answered with that section's counters as text, in the formats of
// /proc/net/snmp, /proc/net/netstat, /proc/net/udp and
// /proc/net/softnet_stat, the latency histograms, and whatever sections
// the image adds (the driver's, NAPI's, the interrupts', memory), for
// people; and section counters, every counter of the image's Snapshot in
// a machine form that ParseCounters reads back, for programs. It answers
// only its allowed hosts; everything else is dropped and counted.
// It is plain Go over the stack's socket API, so the host tests and fuzz
// targets run the code the image runs.
package stats

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/kaidoku-net/kaidoku/netstack"
	"github.com/kaidoku-net/kaidoku/netstack/latency"
	"github.com/kaidoku-net/kaidoku/netstack/socket"
)

// Port is the service's default UDP port.
const Port = 161

// Limits: the part of a request that is read (recvfrom truncates the
// rest), and the largest reply sent (a UDP datagram with room to spare).
const (
	MaxRequest = 512
	MaxReply   = 65000
)

// Section renders one section of a reply.
type Section struct {
	Name  string
	Write func(w io.Writer)
	// Action marks a request that does something (latency-reset) rather
	// than a section of "all".
	Action bool
	// Machine marks the machine form (counters), which "all" leaves out.
	Machine bool
}

// CountersSection is the "counters" section: the snapshot in the
// machine form (WriteCounters), one datagram ending in "end <n>".
func CountersSection(snapshot func() *Snapshot) Section {
	return Section{Name: "counters", Machine: true, Write: func(w io.Writer) {
		if err := WriteCounters(w, snapshot()); err != nil {
			fmt.Fprintf(w, "error %v\n", err)
		}
	}}
}

// StackSections returns the sections st renders, in the order "all"
// prints them: snmp, netstat, udp, softnet, dev, drops, latency and
// sockstat; the latency-reset action; and counters, the stack's counters
// and latency in the machine form (an image replaces it with its whole
// Snapshot).
func StackSections(st *netstack.Stack) []Section {
	return []Section{
		{Name: "snmp", Write: func(w io.Writer) { st.WriteSNMP(w) }},
		{Name: "netstat", Write: func(w io.Writer) { st.WriteNetstat(w) }},
		{Name: "udp", Write: func(w io.Writer) { st.WriteProcNetUDP(w) }},
		{Name: "softnet", Write: func(w io.Writer) { st.WriteSoftnetStat(w) }},
		{Name: "dev", Write: func(w io.Writer) { st.WriteDevStats(w) }},
		{Name: "drops", Write: func(w io.Writer) { st.WriteDrops(w) }},
		{Name: "latency", Write: func(w io.Writer) { WriteLatency(w, st.Latency()) }},
		{Name: "sockstat", Write: func(w io.Writer) { st.WriteSockstat(w) }},
		{Name: "latency-reset", Action: true, Write: func(w io.Writer) {
			if t := st.Latency(); t != nil {
				t.Reset()
			}
			io.WriteString(w, "ok\n")
		}},
		CountersSection(func() *Snapshot {
			return &Snapshot{Stack: st.Counters(), Latency: LatencyOf(st.Latency())}
		}),
	}
}

// TraceOff is the latency section of a stack without the trace
// (netstack.Config.NoLatencyTrace, kaidoku.trace=off): a comment line,
// which the benchmark does not parse, so that the parts read as absent.
const TraceOff = "# latency trace off (kaidoku.trace=off)\n"

// WriteLatency writes t's latency section (latency.Trace.WriteStats),
// or TraceOff when t is nil.
func WriteLatency(w io.Writer, t *latency.Trace) {
	if t == nil {
		io.WriteString(w, TraceOff)
		return
	}
	t.WriteStats(w)
}

// Service answers stats requests.
type Service struct {
	allow    netip.Prefix
	sections []Section
	refused  atomic.Uint64
}

// New returns a service answering only allow (every host if allow is
// the zero Prefix) with sections.
func New(allow netip.Prefix, sections []Section) *Service {
	return &Service{allow: allow, sections: sections}
}

// Refused returns how many requests were dropped for their source.
func (s *Service) Refused() uint64 { return s.refused.Load() }

// Serve answers requests on so until it is closed.
func (s *Service) Serve(so *socket.Socket) {
	req := make([]byte, MaxRequest)
	var from socket.Sockaddr
	var out bytes.Buffer
	for {
		n, err := so.RecvFrom(req, 0, &from)
		if err != nil {
			if errors.Is(err, syscall.EBADF) {
				return // closed
			}
			continue
		}
		if s.Answer(&out, req[:n], &from) {
			so.SendTo(out.Bytes(), 0, &from)
		}
	}
}

// Answer renders the reply to req from from into out; false means the
// request is refused (counted) and gets no reply. The reply is never
// empty and never longer than MaxReply.
func (s *Service) Answer(out *bytes.Buffer, req []byte, from *socket.Sockaddr) bool {
	if s.allow.IsValid() && !s.allow.Contains(netip.AddrFrom4(from.Addr)) {
		s.refused.Add(1)
		return false
	}
	out.Reset()
	s.Write(out, strings.TrimSpace(string(req)))
	if out.Len() > MaxReply {
		out.Truncate(MaxReply)
	}
	return true
}

// Write renders one section, or every section for "all" or "".
func (s *Service) Write(w *bytes.Buffer, name string) {
	if name == "" || name == "all" {
		for _, sec := range s.sections {
			if !sec.Action && !sec.Machine {
				fmt.Fprintf(w, "== %s\n", sec.Name)
				sec.Write(w)
			}
		}
		return
	}
	for _, sec := range s.sections {
		if sec.Name == name {
			sec.Write(w)
			return
		}
	}
	names := []string{"all"}
	for _, sec := range s.sections {
		names = append(names, sec.Name)
	}
	fmt.Fprintf(w, "unknown section %q; sections: %s\n", name, strings.Join(names, " "))
}
