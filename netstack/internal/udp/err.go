package udp

import (
	"github.com/kaidoku-net/kaidoku/netstack/internal/ipv4"
	"github.com/kaidoku-net/kaidoku/netstack/internal/mib"
	"github.com/kaidoku-net/kaidoku/netstack/internal/wire"
	"github.com/kaidoku-net/kaidoku/netstack/skb"
)

// icmpErrConvert is icmp.c's icmp_err_convert: errno and "fatal" (hard)
// per destination-unreachable code.
var icmpErrConvert = [16]struct {
	errno int
	fatal bool
}{
	{ENETUNREACH, false},  // NET_UNREACH
	{EHOSTUNREACH, false}, // HOST_UNREACH
	{ENOPROTOOPT, true},   // PROT_UNREACH
	{ECONNREFUSED, true},  // PORT_UNREACH
	{EMSGSIZE, true},      // FRAG_NEEDED
	{EOPNOTSUPP, false},   // SR_FAILED
	{ENETUNREACH, true},   // NET_UNKNOWN
	{EHOSTDOWN, true},     // HOST_UNKNOWN
	{ENONET, true},        // HOST_ISOLATED
	{ENETUNREACH, true},   // NET_ANO
	{EHOSTUNREACH, true},  // HOST_ANO
	{ENETUNREACH, false},  // NET_UNR_TOS
	{EHOSTUNREACH, false}, // HOST_UNR_TOS
	{EHOSTUNREACH, true},  // PKT_FILTERED
	{EHOSTUNREACH, true},  // PREC_VIOLATION
	{EHOSTUNREACH, true},  // PREC_CUTOFF
}

// More errnos used only here.
const (
	EHOSTDOWN = 112
	ENONET    = 64
)

// Err is the UDP ICMP error handler (udp_err → __udp4_lib_err): find the
// socket that sent the quoted datagram (reversed lookup); none counts
// Icmp.InErrors. Without IP_RECVERR only hard errors on connected
// sockets are reported; with it every error, connected or not, is queued
// on the error queue (ip_icmp_error) and sets sk_err. b.Data() is at the
// quoted IP header.
func (u *UDP) Err(b *skb.Buffer, info uint32) {
	iph := wire.IPv4(b.Data())
	uh := wire.UDP(b.Data()[iph.HeaderLen():])
	icmph := wire.ICMP(b.TransportHeader())
	typ, code := icmph.Type(), icmph.Code()
	sk := u.udp4LibLookup(iph.Dst(), uh.DstPort(), iph.Src(), uh.SrcPort(), b.Ifindex, 0)
	if sk == nil {
		u.mib.ICMPInc(mib.IcmpInErrors)
		return
	}
	var err int
	hard := false
	switch typ {
	case wire.ICMPSourceQuench, wire.ICMPRedirect:
		return
	case wire.ICMPParameterProb:
		err, hard = EPROTO, true
	case wire.ICMPDestUnreach:
		if code == wire.ICMPFragNeeded {
			if sk.pmtudisc != ipv4.PMTUDiscDont {
				err, hard = EMSGSIZE, true
				break
			}
			return
		}
		err = EHOSTUNREACH
		if code <= wire.NRICMPUnreach {
			err, hard = icmpErrConvert[code].errno, icmpErrConvert[code].fatal
		}
	default: // ICMP_TIME_EXCEEDED and anything else
		err = EHOSTUNREACH
	}
	if !sk.recverr.Load() {
		if !hard || sk.state != StateEstablished {
			return
		}
	} else {
		sk.ipIcmpError(b, err, uh.DstPort(), info, iph.HeaderLen()+wire.UDPHLen)
	}
	sk.err.Store(int32(err))
	sk.skErrorReport()
}
