package mib

import (
	"reflect"
	"sync/atomic"
)

// icmpNames are the Icmp: columns that are not per type, by ICMP_MIB_*.
var icmpNames = [icmpMax]string{
	"InMsgs", "InErrors", "InCsumErrors", "OutMsgs", "OutErrors",
	"OutRateLimitGlobal", "OutRateLimitHost",
}

// Each calls f with every counter the MIB keeps, by the group and name
// /proc/net/snmp and /proc/net/netstat print ("Ip", "InReceives"), in
// /proc order: Ip, IpExt, Icmp (with the per-type columns of
// icmpmibmap), Udp, UdpLite and the TcpExt fields Value knows; then
// "Drop" with one name per SKB_DROP_REASON and CONSUMED, and "Softnet"
// with softnet_data's counters by their field names. The IcmpMsg
// counters are sparse: EachICMPMsg walks them. A counter added to these
// tables reaches every reader of Each (netstack's Counters, the stats
// service) without further listing.
func (m *MIB) Each(f func(group, name string, v uint64)) {
	for i := 0; i < ipMax; i++ {
		g := "Ip"
		if i >= ipExtFirst {
			g = "IpExt"
		}
		f(g, ipNames[i], m.IP[i].Load())
	}
	for i := IcmpInMsgs; i <= IcmpInCsumErrors; i++ {
		f("Icmp", icmpNames[i], m.ICMP[i].Load())
	}
	for _, e := range icmpMibMap {
		f("Icmp", "In"+e.name, m.ICMPMsg[e.typ].Load())
	}
	for i := IcmpOutMsgs; i < icmpMax; i++ {
		f("Icmp", icmpNames[i], m.ICMP[i].Load())
	}
	for _, e := range icmpMibMap {
		f("Icmp", "Out"+e.name, m.ICMPMsg[IcmpMsgOut|e.typ].Load())
	}
	for i, n := range udpNames {
		f("Udp", n, m.UDP[i].Load())
	}
	for i, n := range udpNames {
		f("UdpLite", n, m.UDPLite[i].Load())
	}
	for _, n := range tcpExtNames {
		if v, ok := m.Value("TcpExt." + n); ok {
			f("TcpExt", n, v)
		}
	}
	for r := DropReason(0); r < DropMax; r++ {
		f("Drop", r.String(), m.Drops[r].Load())
	}
	f("Drop", "CONSUMED", m.Consumed.Load())
	sn := reflect.ValueOf(&m.Softnet).Elem()
	for i := 0; i < sn.NumField(); i++ {
		if c, ok := sn.Field(i).Addr().Interface().(*atomic.Uint64); ok {
			f("Softnet", sn.Type().Field(i).Name, c.Load())
		}
	}
}

// EachICMPMsg calls f with every non-zero IcmpMsg counter (icmpmsg_put):
// out is false for InType<typ>, true for OutType<typ>.
func (m *MIB) EachICMPMsg(f func(out bool, typ uint8, v uint64)) {
	for i := range m.ICMPMsg {
		if v := m.ICMPMsg[i].Load(); v != 0 {
			f(i&IcmpMsgOut != 0, uint8(i), v)
		}
	}
}
