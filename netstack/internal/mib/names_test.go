package mib

import (
	"strconv"
	"strings"
	"testing"
)

// The header rows of /proc/net/snmp and /proc/net/netstat as Linux v6.8
// prints them (net/ipv4/proc.c: snmp4_ipstats_list, icmp_put with
// icmpmibmap, snmp4_tcp_list, snmp4_udp_list, snmp4_ipextstats_list and
// snmp4_net_list), without the MPTcpExt rows. Tools such as nstat and
// netstat -s find counters by these names and positions.
var linuxRows = map[string]string{
	"Ip": "Forwarding DefaultTTL InReceives InHdrErrors InAddrErrors ForwDatagrams InUnknownProtos " +
		"InDiscards InDelivers OutRequests OutDiscards OutNoRoutes ReasmTimeout ReasmReqds ReasmOKs " +
		"ReasmFails FragOKs FragFails FragCreates OutTransmits",
	"Icmp": "InMsgs InErrors InCsumErrors InDestUnreachs InTimeExcds InParmProbs InSrcQuenchs " +
		"InRedirects InEchos InEchoReps InTimestamps InTimestampReps InAddrMasks InAddrMaskReps " +
		"OutMsgs OutErrors OutRateLimitGlobal OutRateLimitHost OutDestUnreachs OutTimeExcds " +
		"OutParmProbs OutSrcQuenchs OutRedirects OutEchos OutEchoReps OutTimestamps OutTimestampReps " +
		"OutAddrMasks OutAddrMaskReps",
	"Tcp": "RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens AttemptFails EstabResets " +
		"CurrEstab InSegs OutSegs RetransSegs InErrs OutRsts InCsumErrors",
	"Udp":     "InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors",
	"UdpLite": "InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors",
	"IpExt": "InNoRoutes InTruncatedPkts InMcastPkts OutMcastPkts InBcastPkts OutBcastPkts InOctets " +
		"OutOctets InMcastOctets OutMcastOctets InBcastOctets OutBcastOctets InCsumErrors InNoECTPkts " +
		"InECT1Pkts InECT0Pkts InCEPkts ReasmOverlaps",
	"TcpExt": "SyncookiesSent SyncookiesRecv SyncookiesFailed EmbryonicRsts PruneCalled RcvPruned " +
		"OfoPruned OutOfWindowIcmps LockDroppedIcmps ArpFilter TW TWRecycled TWKilled PAWSActive " +
		"PAWSEstab DelayedACKs DelayedACKLocked DelayedACKLost ListenOverflows ListenDrops TCPHPHits " +
		"TCPPureAcks TCPHPAcks TCPRenoRecovery TCPSackRecovery TCPSACKReneging TCPSACKReorder " +
		"TCPRenoReorder TCPTSReorder TCPFullUndo TCPPartialUndo TCPDSACKUndo TCPLossUndo " +
		"TCPLostRetransmit TCPRenoFailures TCPSackFailures TCPLossFailures TCPFastRetrans " +
		"TCPSlowStartRetrans TCPTimeouts TCPLossProbes TCPLossProbeRecovery TCPRenoRecoveryFail " +
		"TCPSackRecoveryFail TCPRcvCollapsed TCPBacklogCoalesce TCPDSACKOldSent TCPDSACKOfoSent " +
		"TCPDSACKRecv TCPDSACKOfoRecv TCPAbortOnData TCPAbortOnClose TCPAbortOnMemory " +
		"TCPAbortOnTimeout TCPAbortOnLinger TCPAbortFailed TCPMemoryPressures " +
		"TCPMemoryPressuresChrono TCPSACKDiscard TCPDSACKIgnoredOld TCPDSACKIgnoredNoUndo " +
		"TCPSpuriousRTOs TCPMD5NotFound TCPMD5Unexpected TCPMD5Failure TCPSackShifted TCPSackMerged " +
		"TCPSackShiftFallback TCPBacklogDrop PFMemallocDrop TCPMinTTLDrop TCPDeferAcceptDrop " +
		"IPReversePathFilter TCPTimeWaitOverflow TCPReqQFullDoCookies TCPReqQFullDrop TCPRetransFail " +
		"TCPRcvCoalesce TCPOFOQueue TCPOFODrop TCPOFOMerge TCPChallengeACK TCPSYNChallenge " +
		"TCPFastOpenActive TCPFastOpenActiveFail TCPFastOpenPassive TCPFastOpenPassiveFail " +
		"TCPFastOpenListenOverflow TCPFastOpenCookieReqd TCPFastOpenBlackhole " +
		"TCPSpuriousRtxHostQueues BusyPollRxPackets TCPAutoCorking TCPFromZeroWindowAdv " +
		"TCPToZeroWindowAdv TCPWantZeroWindowAdv TCPSynRetrans TCPOrigDataSent TCPHystartTrainDetect " +
		"TCPHystartTrainCwnd TCPHystartDelayDetect TCPHystartDelayCwnd TCPACKSkippedSynRecv " +
		"TCPACKSkippedPAWS TCPACKSkippedSeq TCPACKSkippedFinWait2 TCPACKSkippedTimeWait " +
		"TCPACKSkippedChallenge TCPWinProbe TCPKeepAlive TCPMTUPFail TCPMTUPSuccess TCPDelivered " +
		"TCPDeliveredCE TCPAckCompressed TCPZeroWindowDrop TCPRcvQDrop TCPWqueueTooBig " +
		"TCPFastOpenPassiveAltKey TcpTimeoutRehash TcpDuplicateDataRehash TCPDSACKRecvSegs " +
		"TCPDSACKIgnoredDubious TCPMigrateReqSuccess TCPMigrateReqFailure TCPPLBRehash TCPAORequired " +
		"TCPAOBad TCPAOKeyNotFound TCPAOGood TCPAODroppedIcmps",
}

// procRows returns, per row prefix, the header names and the values of
// /proc/net/snmp followed by /proc/net/netstat (IcmpMsg left out: its
// columns depend on the counters).
func procRows(t *testing.T, m *MIB) map[string][2][]string {
	t.Helper()
	var b strings.Builder
	if err := m.WriteSNMP(&b); err != nil {
		t.Fatal(err)
	}
	if err := m.WriteNetstat(&b); err != nil {
		t.Fatal(err)
	}
	rows := map[string][2][]string{}
	for _, p := range linePairs(t, b.String()) {
		g := strings.TrimSuffix(p[0][0], ":")
		if g == "IcmpMsg" {
			continue
		}
		if _, dup := rows[g]; dup {
			t.Fatalf("two %s rows", g)
		}
		rows[g] = [2][]string{p[0][1:], p[1][1:]}
	}
	return rows
}

func TestProcRowsAsLinux(t *testing.T) {
	var m MIB
	rows := procRows(t, &m)
	if len(rows) != len(linuxRows) {
		t.Errorf("%d rows, Linux has %d", len(rows), len(linuxRows))
	}
	for g, want := range linuxRows {
		if got := strings.Join(rows[g][0], " "); got != want {
			t.Errorf("%s:\n got %s\nwant %s", g, got, want)
		}
	}
}

// Every counter is printed once, in its own column, under the name
// Value reads it by: each counter of the MIB is set to a distinct value,
// and each value must show up exactly once, under that name.
func TestProcColumnsMatchValue(t *testing.T) {
	var m MIB
	n := uint64(1000)
	set := func(c interface{ Store(uint64) }) { n++; c.Store(n) }
	for i := range m.IP {
		set(&m.IP[i])
	}
	for i := range m.ICMP {
		set(&m.ICMP[i])
	}
	for i := range m.UDP {
		set(&m.UDP[i])
	}
	for i := range m.UDPLite {
		set(&m.UDPLite[i])
	}
	for i := range m.TCP {
		set(&m.TCP[i])
	}
	set(&m.IPReversePathFilter)
	constant := map[string]bool{"Ip.Forwarding": true, "Ip.DefaultTTL": true, "Tcp.RtoAlgorithm": true,
		"Tcp.RtoMin": true, "Tcp.RtoMax": true, "Tcp.MaxConn": true}
	seen := map[string]bool{}
	for g, r := range procRows(t, &m) {
		for i, name := range r[0] {
			full := g + "." + name
			v, ok := m.Value(full)
			if constant[full] {
				continue
			}
			if !ok {
				if r[1][i] != "0" {
					t.Errorf("%s = %s but Value does not know it", full, r[1][i])
				}
				continue
			}
			if r[1][i] != strconv.FormatUint(v, 10) {
				t.Errorf("%s: printed %s, Value %d", full, r[1][i], v)
			}
			if v != 0 {
				if seen[r[1][i]] {
					t.Errorf("%s: value %s printed twice", full, r[1][i])
				}
				seen[r[1][i]] = true
			}
		}
	}
	for v := uint64(1001); v <= n; v++ {
		if !seen[strconv.FormatUint(v, 10)] {
			t.Errorf("counter set to %d is not printed", v)
		}
	}
}
