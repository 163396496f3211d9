package bench

import (
	"fmt"
	"strings"

	"github.com/kaidoku-net/kaidoku/qemu/testbench"
)

// Goals checks the results against the goals of the benchmark issue and
// says, per goal, whether it is met with the figures that decide it:
// beat the Linux guest on RTT p50 and p99 and on echoes/s; reach 90 % of
// the reflector's echoes/s; interrupt-to-wakeup p50 at most half of the
// gVisor netstack's on the same driver; boot to READY 10× faster than
// Linux.
func Goals(rs []Result) string {
	find := func(prefix string) *Result {
		for i := range rs {
			if strings.HasPrefix(rs[i].Peer, prefix) && rs[i].Err == nil {
				return &rs[i]
			}
		}
		return nil
	}
	var k *Result
	for i := range rs {
		if rs[i].Peer == "kaidoku" && rs[i].Err == nil {
			k = &rs[i]
		}
	}
	l, g, r := find("Linux"), find("gVisor"), find("reflector")
	var b strings.Builder
	b.WriteString("Goals:\n")
	line := func(met bool, format string, args ...any) {
		mark := "not met"
		if met {
			mark = "met"
		}
		fmt.Fprintf(&b, "- %s: "+format+"\n", append([]any{mark}, args...)...)
	}
	if k == nil {
		b.WriteString("- kaidoku was not measured\n")
		return b.String()
	}
	if l != nil {
		kp50, lp50 := k.RTT.Percentile(0.5), l.RTT.Percentile(0.5)
		kp99, lp99 := k.RTT.Percentile(0.99), l.RTT.Percentile(0.99)
		line(kp50 < lp50 && kp99 < lp99, "RTT below the Linux guest's: p50 %s vs %s, p99 %s vs %s", us(kp50), us(lp50), us(kp99), us(lp99))
		line(k.Load.PPS() > l.Load.PPS(), "echoes/s above the Linux guest's: %.0f vs %.0f", k.Load.PPS(), l.Load.PPS())
		line(k.BootReady*10 <= l.BootReady, "boot to READY 10× faster than Linux: %s vs %s (%.1f×)", ms(k.BootReady), ms(l.BootReady), float64(l.BootReady)/float64(k.BootReady))
	} else {
		b.WriteString("- the Linux guest was not measured\n")
	}
	if r != nil {
		pct := k.Load.PPS() / r.Load.PPS() * 100
		line(pct >= 90, "echoes/s at least 90 %% of the reflector's: %.0f vs %.0f (%.0f %%)", k.Load.PPS(), r.Load.PPS(), pct)
	} else {
		b.WriteString("- the reflector was not measured\n")
	}
	kl, gl := k.Latency["total"], (*testbench.Latency)(nil)
	if g != nil {
		gl = g.Latency["total"]
	}
	if kl != nil && gl != nil && kl.Count > 0 && gl.Count > 0 {
		line(kl.P50*2 <= gl.P50, "interrupt-to-wakeup p50 at most half the gVisor netstack's: %s vs %s", us(kl.P50), us(gl.P50))
	} else {
		b.WriteString("- interrupt-to-wakeup: kaidoku or the gVisor peer did not report it\n")
	}
	return b.String()
}

// ClientGoals checks the real-client sections against their goals, with
// the figures of the same run: dnsperf queries/s on kaidoku at least 2×
// the Linux guest's and 4× the gVisor netstack's, with a lower p99 than
// each; sockperf ping-pong p50 and p99 below the Linux guest's. A section
// not run (nil) is left out.
func ClientGoals(dns []DNSPerfResult, sp []SockperfResult) string {
	var b strings.Builder
	line := func(met bool, format string, args ...any) {
		mark := "not met"
		if met {
			mark = "met"
		}
		fmt.Fprintf(&b, "- %s: "+format+"\n", append([]any{mark}, args...)...)
	}
	if dns != nil {
		find := func(kind string) *DNSPerf {
			for _, r := range dns {
				if r.Kind == kind && r.Err == nil {
					return r.DNSPerf
				}
			}
			return nil
		}
		k := find(KindKaidoku)
		for _, peer := range []struct {
			kind, name string
			factor     float64
		}{{KindLinux, "the Linux guest", 2}, {KindGVisor, "the gVisor netstack", 4}} {
			o := find(peer.kind)
			if k == nil || o == nil {
				fmt.Fprintf(&b, "- dnsperf against %s: kaidoku or that peer was not measured\n", peer.name)
				continue
			}
			line(k.QPS >= peer.factor*o.QPS && k.Percentile(0.99) < o.Percentile(0.99),
				"dnsperf queries/s at least %.0f× %s's with a lower p99: %.0f vs %.0f (%.2f×), p99 %s vs %s",
				peer.factor, peer.name, k.QPS, o.QPS, k.QPS/o.QPS, us(k.Percentile(0.99)), us(o.Percentile(0.99)))
		}
	}
	if sp != nil {
		var k, l *Sockperf
		for _, r := range sp {
			switch {
			case r.Kind == KindKaidoku && r.PingPong != nil && k == nil:
				k = r.PingPong
			case r.Kind == KindLinux && r.PingPong != nil && l == nil:
				l = r.PingPong
			}
		}
		if k == nil || l == nil {
			b.WriteString("- sockperf ping-pong: kaidoku or the Linux guest was not measured\n")
		} else {
			line(k.P(50) < l.P(50) && k.P(99) < l.P(99), "sockperf ping-pong p50 and p99 below the Linux guest's: p50 %s vs %s, p99 %s vs %s",
				us(k.P(50)), us(l.P(50)), us(k.P(99)), us(l.P(99)))
		}
	}
	return b.String()
}
