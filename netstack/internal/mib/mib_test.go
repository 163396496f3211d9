package mib

import (
	"strconv"
	"strings"
	"testing"

	"github.com/kaidoku-net/kaidoku/netstack/skb"
)

func TestCounters(t *testing.T) {
	var m MIB
	m.IPInc(IpInReceives)
	m.IPAdd(IpExtInOctets, 1500)
	m.ICMPInc(IcmpInErrors)
	m.ICMPMsgInInc(8)
	m.ICMPOutCount(0)
	m.ICMPOutCount(3)
	m.ICMPOutCount(3)
	m.UDPInc(UdpNoPorts)
	m.UDPLiteInc(UdpInCsumErrors)
	m.TCPInc(TcpOutRsts)
	m.IPReversePathFilter.Add(2)
	for name, want := range map[string]uint64{
		"Ip.InReceives": 1, "IpExt.InOctets": 1500, "Icmp.InErrors": 1, "Icmp.InEchos": 1,
		"IcmpMsg.InType8": 1, "Icmp.OutMsgs": 3, "Icmp.OutEchoReps": 1, "Icmp.OutDestUnreachs": 2,
		"IcmpMsg.OutType3": 2, "IcmpMsg.OutType0": 1, "Udp.NoPorts": 1, "UdpLite.NoPorts": 0,
		"UdpLite.InCsumErrors": 1, "Udp.InCsumErrors": 0, "Tcp.OutRsts": 1, "Tcp.InSegs": 0,
		"TcpExt.IPReversePathFilter": 2, "Ip.InDelivers": 0,
	} {
		if v, ok := m.Value(name); !ok || v != want {
			t.Errorf("%s = %d, %v; want %d", name, v, ok, want)
		}
	}
	for _, name := range []string{"", "Ip", "Ip.", "Ip.InOctets", "IpExt.InReceives", "Icmp.Nope",
		"IcmpMsg.InType256", "IcmpMsg.Type3", "IcmpMsg.InTypeX", "Udp.InSegs", "Tcp.RtoMin",
		"TcpExt.TW", "Drop.NOPE", "Nope.InReceives"} {
		if _, ok := m.Value(name); ok {
			t.Errorf("%q is known", name)
		}
	}
}

func TestSnapshotMatchesValue(t *testing.T) {
	var m MIB
	for i := range m.IP {
		m.IP[i].Store(uint64(i + 1))
	}
	for i := range m.TCP {
		m.TCP[i].Store(uint64(100 + i))
	}
	for i := range m.UDPLite {
		m.UDPLite[i].Store(uint64(200 + i))
	}
	m.Drops[DropNoSocket].Store(7)
	s := m.Snapshot()
	for _, must := range []string{"Ip.InReceives", "IpExt.ReasmOverlaps", "Icmp.OutRateLimitHost",
		"Icmp.InAddrMaskReps", "Udp.MemErrors", "UdpLite.IgnoredMulti", "Tcp.InCsumErrors", "Drop.NO_SOCKET"} {
		if _, ok := s[must]; !ok {
			t.Errorf("snapshot lacks %s", must)
		}
	}
	for name, v := range s {
		if w, ok := m.Value(name); !ok || w != v {
			t.Errorf("snapshot %s = %d, Value %d %v", name, v, w, ok)
		}
	}
}

func TestDropReasonNames(t *testing.T) {
	seen := map[string]DropReason{}
	for r := DropReason(0); r < DropMax; r++ {
		n := r.String()
		if n == "" || n == "UNKNOWN" || strings.ToUpper(n) != n || strings.ContainsAny(n, " .") {
			t.Errorf("reason %d named %q", r, n)
		}
		if o, dup := seen[n]; dup {
			t.Errorf("reasons %d and %d both named %s", o, r, n)
		}
		seen[n] = r
	}
	// Spot checks against include/net/dropreason-core.h.
	for r, n := range map[DropReason]string{DropNotSpecified: "NOT_SPECIFIED", DropNoSocket: "NO_SOCKET",
		DropUDPCsum: "UDP_CSUM", DropTCPCsum: "TCP_CSUM", DropFragReasmTimeout: "FRAG_REASM_TIMEOUT",
		DropIPNoproto: "IP_NOPROTO", DropPktTooSmall: "PKT_TOO_SMALL"} {
		if r.String() != n {
			t.Errorf("%d is %s, want %s", r, r, n)
		}
	}
	if DropMax.String() != "UNKNOWN" {
		t.Errorf("out of range: %s", DropMax)
	}
}

func TestFreeCounts(t *testing.T) {
	p, err := skb.NewPool("mib", 128, 2, skb.HeapMemory)
	if err != nil {
		t.Fatal(err)
	}
	var m MIB
	m.KfreeSkbReason(p.Get(), DropUDPCsum)
	m.ConsumeSkb(p.Get())
	if p.InUse() != 0 {
		t.Fatalf("%d buffers not freed", p.InUse())
	}
	if m.Drops[DropUDPCsum].Load() != 1 || m.Consumed.Load() != 1 {
		t.Fatalf("drops %d consumed %d", m.Drops[DropUDPCsum].Load(), m.Consumed.Load())
	}
	var b strings.Builder
	if err := m.WriteDrops(&b); err != nil {
		t.Fatal(err)
	}
	if want := "UDP_CSUM 1\nCONSUMED 1\n"; b.String() != want {
		t.Fatalf("%q, want %q", b.String(), want)
	}
}

// linePairs splits /proc/net/snmp-style output into (header, values)
// pairs, checking that each pair has the same prefix and field count.
func linePairs(t *testing.T, out string) [][2][]string {
	t.Helper()
	if !strings.HasSuffix(out, "\n") {
		t.Fatalf("no final newline")
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines)%2 != 0 {
		t.Fatalf("%d lines", len(lines))
	}
	var pairs [][2][]string
	for i := 0; i < len(lines); i += 2 {
		h, v := strings.Fields(lines[i]), strings.Fields(lines[i+1])
		if len(h) != len(v) || h[0] != v[0] || !strings.HasSuffix(h[0], ":") {
			t.Fatalf("mismatched pair:\n%s\n%s", lines[i], lines[i+1])
		}
		pairs = append(pairs, [2][]string{h, v})
	}
	return pairs
}

func TestWriteSNMP(t *testing.T) {
	var m MIB
	m.IPInc(IpInDelivers)
	m.TCPInc(TcpInSegs)
	m.UDPLiteInc(UdpNoPorts)
	m.UDPInc(UdpInDatagrams)
	m.ICMPMsgInInc(3)
	for typ := 0; typ < 17; typ++ { // 17 out types: two IcmpMsg line pairs
		m.ICMPOutCount(uint8(typ))
	}
	var b strings.Builder
	if err := m.WriteSNMP(&b); err != nil {
		t.Fatal(err)
	}
	pairs := linePairs(t, b.String())
	var prefixes []string
	field := map[string]string{}
	msgFields := 0
	for _, p := range pairs {
		g := strings.TrimSuffix(p[0][0], ":")
		prefixes = append(prefixes, g)
		if g == "IcmpMsg" {
			if len(p[0]) > 17 {
				t.Errorf("IcmpMsg line with %d fields", len(p[0])-1)
			}
			msgFields += len(p[0]) - 1
		}
		for i := 1; i < len(p[0]); i++ {
			field[g+"."+p[0][i]] = p[1][i]
		}
	}
	if got := strings.Join(prefixes, " "); got != "Ip Icmp IcmpMsg IcmpMsg Tcp Udp UdpLite" {
		t.Fatalf("sections %s", got)
	}
	if msgFields != 18 { // InType3 and OutType0..16
		t.Errorf("%d IcmpMsg fields", msgFields)
	}
	for k, v := range map[string]string{"Ip.Forwarding": "2", "Ip.DefaultTTL": "64", "Ip.InDelivers": "1",
		"Icmp.InDestUnreachs": "1", "Icmp.OutMsgs": "17", "Icmp.OutEchoReps": "1", "IcmpMsg.InType3": "1",
		"IcmpMsg.OutType16": "1", "Tcp.RtoAlgorithm": "1", "Tcp.RtoMin": "200", "Tcp.RtoMax": "120000",
		"Tcp.MaxConn": "-1", "Tcp.InSegs": "1", "Tcp.InCsumErrors": "0", "Udp.InDatagrams": "1",
		"Udp.NoPorts": "0", "UdpLite.NoPorts": "1", "UdpLite.MemErrors": "0"} {
		if field[k] != v {
			t.Errorf("%s = %q, want %s", k, field[k], v)
		}
	}
	// Ip: has Forwarding, DefaultTTL and then the 18 IPSTATS fields.
	if n := len(pairs[0][0]) - 1; n != 2+ipExtFirst {
		t.Errorf("Ip: has %d fields", n)
	}
	if n := len(pairs[4][0]) - 1; n != 4+tcpMax {
		t.Errorf("Tcp: has %d fields", n)
	}
}

func TestWriteNetstat(t *testing.T) {
	var m MIB
	m.IPReversePathFilter.Add(3)
	m.IPAdd(IpExtInOctets, 99)
	var b strings.Builder
	if err := m.WriteNetstat(&b); err != nil {
		t.Fatal(err)
	}
	pairs := linePairs(t, b.String())
	if len(pairs) != 2 || pairs[0][0][0] != "TcpExt:" || pairs[1][0][0] != "IpExt:" {
		t.Fatalf("%d sections", len(pairs))
	}
	for i, n := range pairs[0][0] {
		want := "0"
		if n == "IPReversePathFilter" {
			want = "3"
		}
		if i > 0 && pairs[0][1][i] != want {
			t.Errorf("TcpExt.%s = %s", n, pairs[0][1][i])
		}
	}
	if len(pairs[0][0])-1 != len(tcpExtNames) {
		t.Errorf("TcpExt has %d fields", len(pairs[0][0])-1)
	}
	for i, n := range pairs[1][0] {
		if n == "InOctets" && pairs[1][1][i] != "99" {
			t.Errorf("IpExt.InOctets = %s", pairs[1][1][i])
		}
	}
}

func TestWriteSoftnetStat(t *testing.T) {
	var m MIB
	m.Softnet.Processed.Store(0x1234)
	m.Softnet.Dropped.Store(2)
	m.Softnet.TimeSqueeze.Store(3)
	var b strings.Builder
	if err := m.WriteSoftnetStat(&b); err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(b.String())
	if len(f) != 15 || !strings.HasSuffix(b.String(), "\n") {
		t.Fatalf("%q", b.String())
	}
	for i, want := range map[int]uint64{0: 0x1234, 1: 2, 2: 3, 3: 0} {
		if len(f[i]) != 8 {
			t.Errorf("column %d is %q", i, f[i])
		}
		if v, err := strconv.ParseUint(f[i], 16, 32); err != nil || v != want {
			t.Errorf("column %d = %s", i, f[i])
		}
	}
}
