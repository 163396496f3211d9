package bench

import (
	"fmt"
	"strings"
)

// XSKPeerName and XSKZeroCopyPeerName name the AF_XDP echo's rows
// (image/xskecho in copy mode and in zero-copy mode).
const (
	XSKPeerName         = "AF_XDP echo (copy mode)"
	XSKZeroCopyPeerName = "AF_XDP echo (zero-copy)"
)

// XSKGoals says which of the AF_XDP goals the results meet, for each
// AF_XDP row measured: the AF_XDP echo at least 95 % of the reflector's
// echoes/s with an RTT p50 within 10 % of the reflector's, and its
// interrupt-to-wakeup p50 at most half of kaidoku's UDP socket path's.
// It returns "" when no AF_XDP echo was measured.
func XSKGoals(rs []Result) string {
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
	var b strings.Builder
	for _, name := range []string{XSKPeerName, XSKZeroCopyPeerName} {
		if x := find(name); x != nil {
			xskGoals(&b, name, x, find("reflector"), k)
		}
	}
	return b.String()
}

// xskGoals writes the goals of one AF_XDP row x against the reflector r
// and kaidoku's socket path k, either of which may be nil.
func xskGoals(b *strings.Builder, name string, x, r, k *Result) {
	line := func(met bool, format string, args ...any) {
		mark := "not met"
		if met {
			mark = "met"
		}
		fmt.Fprintf(b, "- %s: %s "+format+"\n", append([]any{mark, name}, args...)...)
	}
	if r != nil && r.Load.PPS() > 0 && r.RTT.Percentile(0.5) > 0 {
		pct := x.Load.PPS() / r.Load.PPS() * 100
		line(pct >= 95, "echoes/s at least 95 %% of the reflector's: %.0f vs %.0f (%.0f %%)", x.Load.PPS(), r.Load.PPS(), pct)
		xp, rp := x.RTT.Percentile(0.5), r.RTT.Percentile(0.5)
		line(float64(xp) <= 1.1*float64(rp), "RTT p50 within 10 %% of the reflector's: %s vs %s", us(xp), us(rp))
	} else {
		fmt.Fprintf(b, "- %s against the reflector: the reflector was not measured\n", name)
	}
	xl := x.Latency["total"]
	if k != nil && xl != nil && xl.Count > 0 && k.Latency["total"] != nil && k.Latency["total"].Count > 0 {
		kl := k.Latency["total"]
		line(xl.P50*2 <= kl.P50, "interrupt-to-wakeup p50 at most half the UDP socket path's: %s vs %s", us(xl.P50), us(kl.P50))
	} else {
		fmt.Fprintf(b, "- %s interrupt-to-wakeup: it or kaidoku's UDP socket path was not measured\n", name)
	}
}
