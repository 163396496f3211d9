package ipv4

import (
	"github.com/kaidoku-net/kaidoku/netstack/internal/wire"
	"github.com/kaidoku-net/kaidoku/netstack/skb"
)

// SendUnicastReply mirrors ip_output.c: ip_send_unicast_reply from the
// TCP control socket: send th, a complete transport header with its
// checksum, as a reply to the datagram b (from b's destination to its
// source), with b's IP options echoed (to the first hop of a reversed
// source route). The control socket sends with DF set (IP_PMTUDISC_DO,
// so IP ID 0), the default TTL and tos without its ECN bits. b is not
// consumed.
func (ip *IPv4) SendUnicastReply(b *skb.Buffer, th []byte, tos uint8) {
	h := wire.IPv4(b.NetworkHeader())
	var opts ipOptionsData
	if !ip.ipOptionsEcho(&opts, h, &b.CB.Opt) {
		return
	}
	daddr, saddr := h.Src(), h.Dst()
	opts.addr = daddr
	if opts.opt.SRR != 0 {
		daddr = opts.faddr
	}
	rt, err := ip.RouteOutput(daddr, saddr, 0)
	if err != 0 {
		return
	}
	d := Datagram{Src: saddr, Dst: daddr, Proto: h.Protocol(), TOS: tos &^ wire.ECNMask,
		TTL: ip.Sysctl.DefaultTTL, PMTUDisc: PMTUDiscDo, opt: &opts}
	ip.Output(&rt, &d, th, nil)
}
