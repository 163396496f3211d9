package bench

import (
	"fmt"
	"strings"
)

// XSKPeerName names the AF_XDP echo's row (image/xskecho).
const XSKPeerName = "AF_XDP echo (copy mode)"

// XSKGoals says which of the AF_XDP goals the results meet: the AF_XDP
// echo at least 95 % of the reflector's echoes/s with an RTT p50 within
// 10 % of the reflector's, and its interrupt-to-wakeup p50 at most half
// of kaidoku's UDP socket path's. It returns "" when the AF_XDP echo was
// not measured.
func XSKGoals(rs []Result) string {
	find := func(prefix string) *Result {
		for i := range rs {
			if strings.HasPrefix(rs[i].Peer, prefix) && rs[i].Err == nil {
				return &rs[i]
			}
		}
		return nil
	}
	x := find(XSKPeerName)
	if x == nil {
		return ""
	}
	var b strings.Builder
	line := func(met bool, format string, args ...any) {
		mark := "not met"
		if met {
			mark = "met"
		}
		fmt.Fprintf(&b, "- %s: "+format+"\n", append([]any{mark}, args...)...)
	}
	if r := find("reflector"); r != nil && r.Load.PPS() > 0 && r.RTT.Percentile(0.5) > 0 {
		pct := x.Load.PPS() / r.Load.PPS() * 100
		line(pct >= 95, "AF_XDP echoes/s at least 95 %% of the reflector's: %.0f vs %.0f (%.0f %%)", x.Load.PPS(), r.Load.PPS(), pct)
		xp, rp := x.RTT.Percentile(0.5), r.RTT.Percentile(0.5)
		line(float64(xp) <= 1.1*float64(rp), "AF_XDP RTT p50 within 10 %% of the reflector's: %s vs %s", us(xp), us(rp))
	} else {
		b.WriteString("- AF_XDP against the reflector: the reflector was not measured\n")
	}
	var k *Result
	for i := range rs {
		if rs[i].Peer == "kaidoku" && rs[i].Err == nil {
			k = &rs[i]
		}
	}
	xl := x.Latency["total"]
	if k != nil && xl != nil && xl.Count > 0 && k.Latency["total"] != nil && k.Latency["total"].Count > 0 {
		kl := k.Latency["total"]
		line(xl.P50*2 <= kl.P50, "AF_XDP interrupt-to-wakeup p50 at most half the UDP socket path's: %s vs %s", us(xl.P50), us(kl.P50))
	} else {
		b.WriteString("- AF_XDP interrupt-to-wakeup: it or kaidoku's UDP socket path was not measured\n")
	}
	return b.String()
}
