// Package mib holds the stack's counters: the SNMP MIBs of
// include/uapi/linux/snmp.h (Ip and IpExt, Icmp and IcmpMsg, Tcp, Udp
// and UdpLite, the one TcpExt field this path uses), the device and softnet
// statistics, and a counter per SKB_DROP_REASON
// (include/net/dropreason-core.h) standing in for the skb:kfree_skb
// tracepoint. It prints them in the formats of /proc/net/snmp,
// /proc/net/netstat and /proc/net/softnet_stat (net/ipv4/proc.c,
// net/core/net-procfs.c).
//
// Counters are atomic: the receive goroutine and application goroutines
// (reads count Udp.InDatagrams, sends count Udp.OutDatagrams) both write
// them, and a single-CPU unikernel has no per-CPU copies to fold.
package mib

import (
	"sync/atomic"

	"github.com/kaidoku-net/kaidoku/netstack/skb"
)

// IP statistics (IPSTATS_MIB_*), Ip: then IpExt: fields in /proc order.
const (
	IpInReceives = iota
	IpInHdrErrors
	IpInAddrErrors
	IpForwDatagrams
	IpInUnknownProtos
	IpInDiscards
	IpInDelivers
	IpOutRequests
	IpOutDiscards
	IpOutNoRoutes
	IpReasmTimeout
	IpReasmReqds
	IpReasmOKs
	IpReasmFails
	IpFragOKs
	IpFragFails
	IpFragCreates
	IpOutTransmits
	IpExtInNoRoutes
	IpExtInTruncatedPkts
	IpExtInMcastPkts
	IpExtOutMcastPkts
	IpExtInBcastPkts
	IpExtOutBcastPkts
	IpExtInOctets
	IpExtOutOctets
	IpExtInMcastOctets
	IpExtOutMcastOctets
	IpExtInBcastOctets
	IpExtOutBcastOctets
	IpExtInCsumErrors
	IpExtInNoECTPkts
	IpExtInECT1Pkts
	IpExtInECT0Pkts
	IpExtInCEPkts
	IpExtReasmOverlaps
	ipMax
)

const ipExtFirst = IpExtInNoRoutes

var ipNames = [ipMax]string{
	"InReceives", "InHdrErrors", "InAddrErrors", "ForwDatagrams", "InUnknownProtos",
	"InDiscards", "InDelivers", "OutRequests", "OutDiscards", "OutNoRoutes",
	"ReasmTimeout", "ReasmReqds", "ReasmOKs", "ReasmFails", "FragOKs", "FragFails",
	"FragCreates", "OutTransmits",
	"InNoRoutes", "InTruncatedPkts", "InMcastPkts", "OutMcastPkts", "InBcastPkts",
	"OutBcastPkts", "InOctets", "OutOctets", "InMcastOctets", "OutMcastOctets",
	"InBcastOctets", "OutBcastOctets", "InCsumErrors", "InNoECTPkts", "InECT1Pkts",
	"InECT0Pkts", "InCEPkts", "ReasmOverlaps",
}

// ICMP statistics (ICMP_MIB_*) that are not per type.
const (
	IcmpInMsgs = iota
	IcmpInErrors
	IcmpInCsumErrors
	IcmpOutMsgs
	IcmpOutErrors
	IcmpOutRateLimitGlobal
	IcmpOutRateLimitHost
	icmpMax
)

// UDP statistics (UDP_MIB_*), in /proc order.
const (
	UdpInDatagrams = iota
	UdpNoPorts
	UdpInErrors
	UdpOutDatagrams
	UdpRcvbufErrors
	UdpSndbufErrors
	UdpInCsumErrors
	UdpIgnoredMulti
	UdpMemErrors
	udpMax
)

var udpNames = [udpMax]string{
	"InDatagrams", "NoPorts", "InErrors", "OutDatagrams", "RcvbufErrors",
	"SndbufErrors", "InCsumErrors", "IgnoredMulti", "MemErrors",
}

// TCP statistics (TCP_MIB_*) that count, in /proc order after the four
// constants RtoAlgorithm, RtoMin, RtoMax and MaxConn.
const (
	TcpActiveOpens = iota
	TcpPassiveOpens
	TcpAttemptFails
	TcpEstabResets
	TcpCurrEstab
	TcpInSegs
	TcpOutSegs
	TcpRetransSegs
	TcpInErrs
	TcpOutRsts
	TcpInCsumErrors
	tcpMax
)

var tcpNames = [tcpMax]string{"ActiveOpens", "PassiveOpens", "AttemptFails", "EstabResets",
	"CurrEstab", "InSegs", "OutSegs", "RetransSegs", "InErrs", "OutRsts", "InCsumErrors"}

// IcmpMsgOut is added to a type to index the IcmpMsg out counters
// (ICMPMSG_MIB_MAX layout: 0x100|type).
const IcmpMsgOut = 0x100

// MIB is one network namespace's statistics.
type MIB struct {
	IP      [ipMax]atomic.Uint64
	ICMP    [icmpMax]atomic.Uint64
	ICMPMsg [512]atomic.Uint64
	UDP     [udpMax]atomic.Uint64
	UDPLite [udpMax]atomic.Uint64
	TCP     [tcpMax]atomic.Uint64
	// IPReversePathFilter is TcpExt.IPReversePathFilter, the only
	// TcpExt field the IPv4/UDP receive path moves.
	IPReversePathFilter atomic.Uint64

	Drops    [DropMax]atomic.Uint64
	Consumed atomic.Uint64
	Softnet  Softnet
}

// IPInc adds one to an IP statistic.
func (m *MIB) IPInc(i int) { m.IP[i].Add(1) }

// IPAdd adds n to an IP statistic.
func (m *MIB) IPAdd(i int, n uint64) { m.IP[i].Add(n) }

// ICMPInc adds one to an ICMP statistic.
func (m *MIB) ICMPInc(i int) { m.ICMP[i].Add(1) }

// ICMPMsgInInc counts a received ICMP type (ICMPMSGIN_INC_STATS).
func (m *MIB) ICMPMsgInInc(typ uint8) { m.ICMPMsg[typ].Add(1) }

// ICMPOutCount counts a sent ICMP message (icmp_out_count).
func (m *MIB) ICMPOutCount(typ uint8) {
	m.ICMPMsg[IcmpMsgOut|int(typ)].Add(1)
	m.ICMP[IcmpOutMsgs].Add(1)
}

// UDPInc adds one to a UDP statistic.
func (m *MIB) UDPInc(i int) { m.UDP[i].Add(1) }

// UDPLiteInc adds one to a UDP-Lite statistic (the UdpLite MIB that
// __UDP_INC_STATS selects with is_udplite).
func (m *MIB) UDPLiteInc(i int) { m.UDPLite[i].Add(1) }

// TCPInc adds one to a TCP statistic.
func (m *MIB) TCPInc(i int) { m.TCP[i].Add(1) }

// KfreeSkbReason frees b as a drop with reason r (kfree_skb_reason).
func (m *MIB) KfreeSkbReason(b *skb.Buffer, r DropReason) {
	m.Drops[r].Add(1)
	b.Free()
}

// ConsumeSkb frees b as not dropped (consume_skb).
func (m *MIB) ConsumeSkb(b *skb.Buffer) {
	m.Consumed.Add(1)
	b.Free()
}

// Softnet is struct softnet_data's counters for the one CPU. The stack
// counts Processed in __netif_receive_skb_core; the image stores the NAPI
// layer's Dropped and TimeSqueeze here, so netstack does not import napi.
type Softnet struct {
	Processed   atomic.Uint64
	Dropped     atomic.Uint64
	TimeSqueeze atomic.Uint64
	ReceivedRPS atomic.Uint64
	FlowLimit   atomic.Uint64
}
