package e2e

// Access control of the stats service and the test agent: each answers
// only its configured host or range; anything else is dropped, counted
// (svc.stats.refused and svc.agent.refused in the stats service's
// counters) and answered by nothing at all, not even an ICMP error.

import (
	"net/netip"
	"testing"
	"time"

	"github.com/kaidoku-net/kaidoku/qemu/testbench"
)

func TestStatsAccessControl(t *testing.T) {
	for _, tc := range []struct {
		name     string
		append   []string
		allowed  []netip.Addr
		refused  []netip.Addr
		agentOK  netip.Addr // a source the agent answers
		agentBad netip.Addr
	}{
		{
			// By default the stats service answers the guest's subnet and
			// the agent only the test host.
			name:     "defaults",
			allowed:  []netip.Addr{testbench.TestHost, netip.MustParseAddr("10.0.2.9")},
			refused:  []netip.Addr{netip.MustParseAddr("10.0.3.9"), netip.MustParseAddr("192.168.1.1")},
			agentOK:  testbench.TestHost,
			agentBad: netip.MustParseAddr("10.0.2.9"),
		},
		{
			name:     "kaidoku.stats.allow=10.0.2.2/32 kaidoku.agent.allow=10.0.2.8/30",
			append:   []string{"kaidoku.stats.allow=10.0.2.2/32", "kaidoku.agent.allow=10.0.2.8/30"},
			allowed:  []netip.Addr{testbench.TestHost},
			refused:  []netip.Addr{netip.MustParseAddr("10.0.2.9"), netip.MustParseAddr("10.0.2.3")},
			agentOK:  netip.MustParseAddr("10.0.2.10"),
			agentBad: testbench.TestHost,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := bootRel(t, relOpts{append: tc.append})
			ask := func(src netip.Addr, port uint16) ([]byte, error) {
				return g.b.Request(addr(src, port), testbench.StatsPort, []byte("pools"), time.Second)
			}
			for i, src := range tc.allowed {
				if _, err := ask(src, uint16(43000+i)); err != nil {
					t.Errorf("stats did not answer %s: %v", src, err)
				}
			}
			for i, src := range tc.refused {
				if out, err := ask(src, uint16(43100+i)); err == nil {
					t.Errorf("stats answered %s: %q", src, out)
				}
			}
			good := g.a.From(tc.agentOK)
			if _, err := good.Socket(); err != nil {
				t.Errorf("agent did not answer %s: %v", tc.agentOK, err)
			}
			bad := g.a.From(tc.agentBad)
			bad.Timeout = time.Second
			if _, err := bad.Socket(); err == nil {
				t.Errorf("agent answered %s", tc.agentBad)
			}
			// Read the counters from a source the stats service answers.
			st, err := g.b.StatsClient().All()
			if err != nil {
				t.Fatal(err)
			}
			if n := st.Counter("svc.stats.refused"); n != int64(len(tc.refused)) {
				t.Errorf("stats refused %d datagrams, want %d", n, len(tc.refused))
			}
			if n := st.Counter("svc.agent.refused"); n != 1 {
				t.Errorf("agent refused %d datagrams, want 1", n)
			}
			// No reply of any kind went to a refused source.
			for _, src := range append(tc.refused, tc.agentBad) {
				if n := g.b.Count(func(p testbench.Parsed) bool { return p.IPDst == src }, 0); n != 0 {
					t.Errorf("%d frames went to refused source %s", n, src)
				}
			}
		})
	}
}
