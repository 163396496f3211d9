package mib

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync/atomic"
)

// icmpMibMap is net/ipv4/proc.c's icmpmibmap: the per-type columns of the
// Icmp: lines, taken from the IcmpMsg counters.
var icmpMibMap = [...]struct {
	name string
	typ  int
}{
	{"DestUnreachs", 3}, {"TimeExcds", 11}, {"ParmProbs", 12}, {"SrcQuenchs", 4},
	{"Redirects", 5}, {"Echos", 8}, {"EchoReps", 0}, {"Timestamps", 13},
	{"TimestampReps", 14}, {"AddrMasks", 17}, {"AddrMaskReps", 18},
}

// WriteSNMP prints /proc/net/snmp (snmp_seq_show). Forwarding is 2 (a
// host) and DefaultTTL 64. The Tcp: line starts with Linux's constants
// (RtoAlgorithm 1, RtoMin 200, RtoMax 120000, MaxConn -1); with no TCP
// sockets only the segment, error and reset counters move.
func (m *MIB) WriteSNMP(w io.Writer) error {
	var b strings.Builder
	writeLinePair(&b, "Ip: Forwarding DefaultTTL", "Ip: 2 64", ipNames[:ipExtFirst], m.IP[:ipExtFirst])
	b.WriteString("Icmp: InMsgs InErrors InCsumErrors")
	for _, e := range icmpMibMap {
		b.WriteString(" In" + e.name)
	}
	b.WriteString(" OutMsgs OutErrors OutRateLimitGlobal OutRateLimitHost")
	for _, e := range icmpMibMap {
		b.WriteString(" Out" + e.name)
	}
	fmt.Fprintf(&b, "\nIcmp: %d %d %d", m.ICMP[IcmpInMsgs].Load(), m.ICMP[IcmpInErrors].Load(),
		m.ICMP[IcmpInCsumErrors].Load())
	for _, e := range icmpMibMap {
		fmt.Fprintf(&b, " %d", m.ICMPMsg[e.typ].Load())
	}
	fmt.Fprintf(&b, " %d %d %d %d", m.ICMP[IcmpOutMsgs].Load(), m.ICMP[IcmpOutErrors].Load(),
		m.ICMP[IcmpOutRateLimitGlobal].Load(), m.ICMP[IcmpOutRateLimitHost].Load())
	for _, e := range icmpMibMap {
		fmt.Fprintf(&b, " %d", m.ICMPMsg[IcmpMsgOut|e.typ].Load())
	}
	b.WriteString("\n")
	// icmpmsg_put: non-zero types, 16 per line pair.
	var types []int
	for i := range m.ICMPMsg {
		if m.ICMPMsg[i].Load() != 0 {
			types = append(types, i)
		}
	}
	for len(types) > 0 {
		n := min(len(types), 16)
		b.WriteString("IcmpMsg:")
		for _, t := range types[:n] {
			dir := "In"
			if t&IcmpMsgOut != 0 {
				dir = "Out"
			}
			fmt.Fprintf(&b, " %sType%d", dir, t&0xff)
		}
		b.WriteString("\nIcmpMsg:")
		for _, t := range types[:n] {
			fmt.Fprintf(&b, " %d", m.ICMPMsg[t].Load())
		}
		b.WriteString("\n")
		types = types[n:]
	}
	writeLinePair(&b, "Tcp: RtoAlgorithm RtoMin RtoMax MaxConn", "Tcp: 1 200 120000 -1", tcpNames[:], m.TCP[:])
	writeLinePair(&b, "Udp:", "Udp:", udpNames[:], m.UDP[:])
	writeLinePair(&b, "UdpLite:", "UdpLite:", udpNames[:], m.UDPLite[:])
	_, err := io.WriteString(w, b.String())
	return err
}

// writeLinePair writes one /proc/net/snmp or netstat group: a line of
// names after nameHead and a line of values after valueHead, as
// snmp_seq_show_tcp_udp and its siblings print them.
func writeLinePair(b *strings.Builder, nameHead, valueHead string, names []string, vals []atomic.Uint64) {
	b.WriteString(nameHead)
	for _, n := range names {
		b.WriteString(" " + n)
	}
	b.WriteString("\n" + valueHead)
	for i := range vals {
		b.WriteString(" " + strconv.FormatUint(vals[i].Load(), 10))
	}
	b.WriteString("\n")
}

// WriteNetstat prints /proc/net/netstat's TcpExt and IpExt line pairs
// (netstat_seq_show). Of TcpExt only IPReversePathFilter can move here;
// the others print as 0.
func (m *MIB) WriteNetstat(w io.Writer) error {
	var b strings.Builder
	b.WriteString("TcpExt:")
	for _, n := range tcpExtNames {
		b.WriteString(" " + n)
	}
	b.WriteString("\nTcpExt:")
	for _, n := range tcpExtNames {
		v := uint64(0)
		if n == "IPReversePathFilter" {
			v = m.IPReversePathFilter.Load()
		}
		b.WriteString(" " + strconv.FormatUint(v, 10))
	}
	b.WriteString("\n")
	writeLinePair(&b, "IpExt:", "IpExt:", ipNames[ipExtFirst:ipMax], m.IP[ipExtFirst:ipMax])
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteSoftnetStat prints /proc/net/softnet_stat for the single CPU
// (softnet_seq_show): 15 hex columns. There is no backlog queue, so the
// queue-length columns are 0.
func (m *MIB) WriteSoftnetStat(w io.Writer) error {
	s := &m.Softnet
	_, err := fmt.Fprintf(w, "%08x %08x %08x %08x %08x %08x %08x %08x %08x %08x %08x %08x %08x %08x %08x\n",
		uint32(s.Processed.Load()), uint32(s.Dropped.Load()), uint32(s.TimeSqueeze.Load()), 0,
		0, 0, 0, 0, 0, uint32(s.ReceivedRPS.Load()), uint32(s.FlowLimit.Load()), 0, 0, 0, 0)
	return err
}

// WriteDrops prints every non-zero drop-reason counter, one
// "REASON count" per line, and the consumed count.
func (m *MIB) WriteDrops(w io.Writer) error {
	var b strings.Builder
	for r := DropReason(0); r < DropMax; r++ {
		if v := m.Drops[r].Load(); v != 0 {
			fmt.Fprintf(&b, "%s %d\n", r, v)
		}
	}
	fmt.Fprintf(&b, "CONSUMED %d\n", m.Consumed.Load())
	_, err := io.WriteString(w, b.String())
	return err
}

// Value returns a counter by its /proc name, "Ip.InReceives",
// "IpExt.InCsumErrors", "Icmp.OutDestUnreachs", "IcmpMsg.InType8",
// "Tcp.InSegs", "Udp.NoPorts", "UdpLite.InErrors",
// "TcpExt.IPReversePathFilter" or
// "Drop.UDP_CSUM"; ok is false for an unknown name. Tests and the stats
// service use it.
func (m *MIB) Value(name string) (v uint64, ok bool) {
	group, field, found := strings.Cut(name, ".")
	if !found {
		return 0, false
	}
	switch group {
	case "Ip":
		for i := 0; i < ipExtFirst; i++ {
			if ipNames[i] == field {
				return m.IP[i].Load(), true
			}
		}
	case "IpExt":
		for i := ipExtFirst; i < ipMax; i++ {
			if ipNames[i] == field {
				return m.IP[i].Load(), true
			}
		}
	case "Icmp":
		switch field {
		case "InMsgs":
			return m.ICMP[IcmpInMsgs].Load(), true
		case "InErrors":
			return m.ICMP[IcmpInErrors].Load(), true
		case "InCsumErrors":
			return m.ICMP[IcmpInCsumErrors].Load(), true
		case "OutMsgs":
			return m.ICMP[IcmpOutMsgs].Load(), true
		case "OutErrors":
			return m.ICMP[IcmpOutErrors].Load(), true
		case "OutRateLimitGlobal":
			return m.ICMP[IcmpOutRateLimitGlobal].Load(), true
		case "OutRateLimitHost":
			return m.ICMP[IcmpOutRateLimitHost].Load(), true
		}
		for _, e := range icmpMibMap {
			if field == "In"+e.name {
				return m.ICMPMsg[e.typ].Load(), true
			}
			if field == "Out"+e.name {
				return m.ICMPMsg[IcmpMsgOut|e.typ].Load(), true
			}
		}
	case "IcmpMsg":
		off := 0
		rest, isIn := strings.CutPrefix(field, "InType")
		if !isIn {
			var isOut bool
			rest, isOut = strings.CutPrefix(field, "OutType")
			if !isOut {
				return 0, false
			}
			off = IcmpMsgOut
		}
		t, err := strconv.Atoi(rest)
		if err != nil || t < 0 || t > 255 {
			return 0, false
		}
		return m.ICMPMsg[off|t].Load(), true
	case "Udp", "UdpLite":
		arr := &m.UDP
		if group == "UdpLite" {
			arr = &m.UDPLite
		}
		for i, n := range udpNames {
			if n == field {
				return arr[i].Load(), true
			}
		}
	case "Tcp":
		for i, n := range tcpNames {
			if n == field {
				return m.TCP[i].Load(), true
			}
		}
	case "TcpExt":
		if field == "IPReversePathFilter" {
			return m.IPReversePathFilter.Load(), true
		}
	case "Drop":
		if field == "CONSUMED" {
			return m.Consumed.Load(), true
		}
		for r := DropReason(0); r < DropMax; r++ {
			if r.String() == field {
				return m.Drops[r].Load(), true
			}
		}
	}
	return 0, false
}

// Snapshot returns every named counter (the names Value accepts, without
// TcpExt and IcmpMsg), for computing deltas in tests.
func (m *MIB) Snapshot() map[string]uint64 {
	s := make(map[string]uint64, 128)
	for i := 0; i < ipMax; i++ {
		g := "Ip."
		if i >= ipExtFirst {
			g = "IpExt."
		}
		s[g+ipNames[i]] = m.IP[i].Load()
	}
	for _, n := range []string{"InMsgs", "InErrors", "InCsumErrors", "OutMsgs", "OutErrors", "OutRateLimitGlobal", "OutRateLimitHost"} {
		v, _ := m.Value("Icmp." + n)
		s["Icmp."+n] = v
	}
	for _, e := range icmpMibMap {
		s["Icmp.In"+e.name] = m.ICMPMsg[e.typ].Load()
		s["Icmp.Out"+e.name] = m.ICMPMsg[IcmpMsgOut|e.typ].Load()
	}
	for i, n := range udpNames {
		s["Udp."+n] = m.UDP[i].Load()
		s["UdpLite."+n] = m.UDPLite[i].Load()
	}
	for i, n := range tcpNames {
		s["Tcp."+n] = m.TCP[i].Load()
	}
	for r := DropReason(0); r < DropMax; r++ {
		s["Drop."+r.String()] = m.Drops[r].Load()
	}
	return s
}
