package netstack

import (
	"testing"

	"github.com/kaidoku-net/kaidoku/netstack/internal/clock"
)

// TestICMPErrorRightAfterBoot: jiffies start at INITIAL_JIFFIES, so
// icmp_global_allow, whose stamp starts at 0, sees a full second since
// its last refill and allows the first error at once; had jiffies
// started at 0 it would refuse errors for the first HZ/50.
func TestICMPErrorRightAfterBoot(t *testing.T) {
	boot := &clock.Fake{} // the stack's clock reads 0: just booted
	e := newEnv(t, func(c *Config) { c.Now = boot.Now })
	e.send(udpPkt(7001, []byte("x")))
	if n := len(icmpsIn(e.sent())); n != 1 {
		t.Fatalf("%d ICMP errors sent, want 1", n)
	}
	e.expect(map[string]int64{"Udp.NoPorts": 1, "Icmp.OutDestUnreachs": 1, "Icmp.OutRateLimitGlobal": 0})
}
