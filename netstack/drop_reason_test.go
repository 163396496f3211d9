package netstack

import (
	"testing"
	"time"

	"github.com/kaidoku-net/kaidoku/netstack/internal/ipv4"
)

// Drop reasons where Linux 6.8 calls kfree_skb (SKB_DROP_REASON_NOT_SPECIFIED)
// or kfree_skb_reason rather than consume_skb.

// __udp4_lib_mcast_deliver frees a broadcast nobody listens to with
// kfree_skb.
func TestDropReasonBroadcastNoListener(t *testing.T) {
	e := newEnv(t)
	p := udpPktTo(ipBcst, 7000, []byte("x"))
	e.send(p)
	e.expect(map[string]int64{"Udp.IgnoredMulti": 1, "Drop.NOT_SPECIFIED": 1, "Drop.CONSUMED": 0})
}

// udp_destruct_common frees what is still queued when a socket closes
// with kfree_skb.
func TestDropReasonQueuePurgedOnClose(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	e.send(udpPkt(7000, []byte("one")))
	e.send(udpPkt(7000, []byte("two")))
	e.mark()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	e.expect(map[string]int64{"Drop.NOT_SPECIFIED": 2, "Drop.CONSUMED": 0})
}

// ip_expire's reason is FRAG_REASM_TIMEOUT from the start, so a head
// fragment whose route lookup fails at expiry is freed with it.
func TestDropReasonReasmTimeoutRerouteFails(t *testing.T) {
	sys := ipv4.NewSysctl()
	sys.AcceptLocal = true
	e := newEnv(t, func(c *Config) { c.sysctl = &sys })
	d := udpDatagram(ipM, ipM, 40000, 7000, bigPayload(2000))
	f := frag(d, 0, 1480, true, 49)
	f.src = ipM
	e.send(f)
	e.expect(map[string]int64{"Ip.ReasmReqds": 1, "Drop.NOT_SPECIFIED": 0})
	// accept_local is switched off: the source is now a martian.
	e.s.ip.Sysctl.AcceptLocal = false
	e.mark()
	e.advance(30 * time.Second)
	e.expect(map[string]int64{"Ip.ReasmTimeout": 1, "Drop.FRAG_REASM_TIMEOUT": 1, "Drop.NOT_SPECIFIED": 0,
		"Icmp.OutTimeExcds": 0})
}
