package ether

import (
	"encoding/binary"

	"github.com/kaidoku-net/kaidoku/netstack/internal/wire"
	"github.com/kaidoku-net/kaidoku/netstack/skb"
)

// groReceive is what napi_gro_receive does to a lone IPv4/UDP frame
// before netif_receive_skb: nothing is held or merged (kaidoku's driver
// hands every frame up at once), but dev_gro_receive → inet_gro_receive
// → udp4_gro_receive checks the UDP checksum of a frame it would not
// flush, and a good one becomes CHECKSUM_UNNECESSARY
// (skb_gro_checksum_validate_zero_check → __skb_incr_checksum_unnecessary).
// The taps and packet sockets see that state (TP_STATUS_CSUM_VALID);
// the UDP layer then has nothing left to check. A frame GRO would flush
// (IP options, a fragment, a bad header checksum, padding or a short
// packet: tot_len ≠ the data) and a zero UDP checksum keep their state,
// and a bad checksum is left to the UDP layer to count. An 802.1Q-tagged
// frame is not looked into (Linux's vlan_gro_receive would).
func groReceive(b *skb.Buffer) {
	if b.Protocol != wire.EthPIP || b.IPSummed != skb.ChecksumNone {
		return
	}
	p := b.Data()
	if len(p) < 20+8 || p[0] != 0x45 || p[9] != wire.ProtoUDP {
		return
	}
	iph := wire.IPv4(p)
	if iph.IsFragment() || wire.IPHeaderChecksum(p[:20]) != 0 || iph.TotLen() != len(p) {
		return
	}
	udp := p[20:]
	if binary.BigEndian.Uint16(udp[6:]) == 0 {
		return
	}
	sum := wire.Checksum(udp, wire.PseudoSum(iph.Src(), iph.Dst(), wire.ProtoUDP, len(udp)))
	if wire.CsumFold(sum) == 0 {
		b.IPSummed = skb.ChecksumUnnecessary
	}
}
