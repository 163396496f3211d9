package ipv4

import "github.com/kaidoku-net/kaidoku/netstack/internal/wire"

// inetPeer is struct inet_peer: long-lived per-remote-host state shared
// by the fragment "too far" counter and the ICMP per-destination limiter
// (net/ipv4/inetpeer.c). Keyed by address (vif is always 0 here).
type inetPeer struct {
	addr       wire.Addr
	rid        uint32 // fragment counter (ip_frag_too_far)
	rateTokens uint32 // jiffies
	rateLast   uint32 // jiffies
	refcnt     int
	dtime      uint32 // jiffies when the last reference went
}

// peerTable is the per-namespace inet_peer base. Peers no one references
// are collected once the table is large and they have been unused for
// inet_peer_minttl (120 s), as inet_peer_gc does.
type peerTable struct {
	m map[wire.Addr]*inetPeer
}

const (
	peerThreshold = 4096
	peerMinTTL    = 120 * 1000 // jiffies
)

func (t *peerTable) init() { t.m = make(map[wire.Addr]*inetPeer) }

// inetGetpeer mirrors inet_getpeer(base, daddr, create=1): a new peer's
// rate bucket starts full (rate_last = now − 60 s). The caller must
// inetPutpeer it.
func (ip *IPv4) inetGetpeer(a wire.Addr) *inetPeer {
	t := &ip.peers
	now := ip.clk.Jiffies()
	if p := t.m[a]; p != nil {
		p.refcnt++
		return p
	}
	if len(t.m) >= peerThreshold {
		for k, p := range t.m {
			if p.refcnt == 0 && now-p.dtime > peerMinTTL {
				delete(t.m, k)
			}
		}
		if len(t.m) >= 2*peerThreshold {
			return nil // allocation refused: callers treat nil as "allow"
		}
	}
	p := &inetPeer{addr: a, rateLast: now - 60*1000, refcnt: 1}
	t.m[a] = p
	return p
}

// inetPutpeer drops a reference (inet_putpeer).
func (ip *IPv4) inetPutpeer(p *inetPeer) {
	if p == nil {
		return
	}
	p.refcnt--
	if p.refcnt == 0 {
		p.dtime = ip.clk.Jiffies()
	}
}

// xrlimBurstFactor is XRLIM_BURST_FACTOR.
const xrlimBurstFactor = 6

// inetPeerXrlimAllow mirrors inetpeer.c: inet_peer_xrlim_allow: a token
// bucket in jiffies, burst 6 × timeout.
func inetPeerXrlimAllow(p *inetPeer, timeout uint32, now uint32) bool {
	if p == nil {
		return true
	}
	token := p.rateTokens + (now - p.rateLast)
	p.rateLast = now
	if token > xrlimBurstFactor*timeout {
		token = xrlimBurstFactor * timeout
	}
	ok := false
	if token >= timeout {
		token -= timeout
		ok = true
	}
	p.rateTokens = token
	return ok
}
