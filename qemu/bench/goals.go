package bench

import (
	"fmt"
	"strings"

	"github.com/kaidoku-net/kaidoku/qemu/testbench"
)

// Goals checks the results against the benchmark's goals and says, per
// goal, whether it is met with the figures of this run that decide it.
// kaidoku is the peer named "kaidoku", the default configuration (no
// busy-poll). The goals:
//   - RTT p50 and p99 and echoes/s better than the Linux guest's;
//   - echoes/s at least 90 % of the reflector's, and RTT p50 at most
//     1.3× the reflector's;
//   - interrupt-to-wakeup p50 at most 0.4× the gVisor netstack's on the
//     same driver;
//   - a knee (the highest offered rate with p99 under KneeLimit) at least
//     2.5× the Linux guest's, and at the Linux guest's knee rate a p99 at
//     most a quarter of the Linux guest's there;
//   - boot to READY at least 20× faster than the Linux guest.
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
		line(k.BootReady*20 <= l.BootReady, "boot to READY at least 20× faster than the Linux guest: %s vs %s (%.1f×)", ms(k.BootReady), ms(l.BootReady), float64(l.BootReady)/float64(k.BootReady))
		kneeGoals(&b, line, k, l)
	} else {
		b.WriteString("- the Linux guest was not measured\n")
	}
	if r != nil {
		pct := k.Load.PPS() / r.Load.PPS() * 100
		line(pct >= 90, "echoes/s at least 90 %% of the reflector's: %.0f vs %.0f (%.0f %%)", k.Load.PPS(), r.Load.PPS(), pct)
		kp50, rp50 := k.RTT.Percentile(0.5), r.RTT.Percentile(0.5)
		line(kp50*10 <= rp50*13, "RTT p50 at most 1.3× the reflector's: %s vs %s (%.2f×)", us(kp50), us(rp50), float64(kp50)/float64(rp50))
	} else {
		b.WriteString("- the reflector was not measured\n")
	}
	kl, gl := k.Latency["total"], (*testbench.Latency)(nil)
	if g != nil {
		gl = g.Latency["total"]
	}
	if kl != nil && gl != nil && kl.Count > 0 && gl.Count > 0 {
		line(kl.P50*10 <= gl.P50*4, "interrupt-to-wakeup p50 at most 0.4× the gVisor netstack's: %s vs %s (%.2f×)", us(kl.P50), us(gl.P50), float64(kl.P50)/float64(gl.P50))
	} else {
		b.WriteString("- interrupt-to-wakeup: kaidoku or the gVisor peer did not report it\n")
	}
	return b.String()
}

// kneeGoals judges the open-loop goals of kaidoku k against the Linux
// guest l. Where the Linux guest has no knee (its p99 is over the limit
// at every rate), kaidoku's knee is compared with none, and the p99 goal
// is judged at the Linux guest's lowest rate, where it does best.
func kneeGoals(b *strings.Builder, line func(bool, string, ...any), k, l *Result) {
	if len(k.OpenLoop) == 0 || len(l.OpenLoop) == 0 {
		b.WriteString("- knee: kaidoku or the Linux guest did not run the open loop\n")
		return
	}
	kk, kok := Knee(k.OpenLoop, KneeLimit)
	lk, lok := Knee(l.OpenLoop, KneeLimit)
	switch {
	case !kok:
		line(false, "knee at least 2.5× the Linux guest's: kaidoku has none (p99 ≥ %s at every rate)", us(KneeLimit))
	case !lok:
		line(true, "knee at least 2.5× the Linux guest's: %.0f/s vs none (the Linux guest's p99 is ≥ %s at every rate, from %.0f/s)", kk, us(KneeLimit), lowest(l.OpenLoop).Offered)
	default:
		line(kk >= 2.5*lk, "knee at least 2.5× the Linux guest's: %.0f/s vs %.0f/s (%.2f×)", kk, lk, kk/lk)
	}
	// The Linux guest's point: its knee, or its lowest rate without one.
	lp := lowest(l.OpenLoop)
	if lok {
		lp, _ = atOrAbove(l.OpenLoop, lk)
	}
	what := fmt.Sprintf("p99 at the Linux guest's knee, %.0f/s, at most a quarter of the Linux guest's", lp.Offered)
	if !lok {
		what = fmt.Sprintf("p99 at the Linux guest's lowest rate, %.0f/s (it has no knee), at most a quarter of the Linux guest's", lp.Offered)
	}
	lp99, lanswered := lp.Percentile(0.99)
	kp, found := atOrAbove(k.OpenLoop, lp.Offered)
	if !found {
		fmt.Fprintf(b, "- %s: kaidoku was not offered that much\n", what)
		return
	}
	kp99, kanswered := kp.Percentile(0.99)
	where := ""
	if kp.Offered != lp.Offered {
		where = fmt.Sprintf("; kaidoku measured at %.0f/s, its lowest rate not below that: an upper bound", kp.Offered)
	}
	switch {
	case !kanswered:
		line(false, "%s: kaidoku's is beyond the %s deadline%s", what, ms(kp.Deadline), where)
	case !lanswered:
		line(true, "%s: %s vs beyond the %s deadline%s", what, us(kp99), ms(lp.Deadline), where)
	default:
		line(kp99*4 <= lp99, "%s: %s vs %s (%.2f×%s)", what, us(kp99), us(lp99), float64(kp99)/float64(lp99), where)
	}
}

// lowest returns the point of pts offered the lowest rate.
func lowest(pts []OpenLoopPoint) OpenLoopPoint {
	lo := pts[0]
	for _, pt := range pts[1:] {
		if pt.Offered < lo.Offered {
			lo = pt
		}
	}
	return lo
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
