package ipv4

import (
	"encoding/binary"

	"github.com/kaidoku-net/kaidoku/netstack/internal/mib"
	"github.com/kaidoku-net/kaidoku/netstack/internal/wire"
	"github.com/kaidoku-net/kaidoku/netstack/skb"
)

// IP option types (include/uapi/linux/ip.h).
const (
	ipoptEnd      = 0
	ipoptNoop     = 1
	ipoptSec      = 130
	ipoptLSRR     = 131
	ipoptCIPSO    = 134
	ipoptSSRR     = 137
	ipoptRR       = 7
	ipoptSID      = 136
	ipoptTS       = 68
	ipoptRA       = 148
	ipoptTSOnly   = 0
	ipoptTSAddr   = 1
	ipoptTSPrespc = 3
)

// ipRcvOptions mirrors ip_input.c: ip_rcv_options; it reports whether
// the packet must be dropped (the caller frees it).
func (ip *IPv4) ipRcvOptions(b *skb.Buffer) bool {
	// skb_cow: our buffers are private and writable.
	h := b.Data()
	opt := &b.CB.Opt
	opt.Optlen = uint8(wire.IPv4(h).HeaderLen() - wire.IPv4MinHLen)
	if info, bad := ip.ipOptionsCompile(h, opt, b); bad {
		ip.mib.IPInc(mib.IpInHdrErrors)
		ip.IcmpSend(b, wire.ICMPParameterProb, 0, info)
		return true
	}
	if opt.SRR != 0 && !ip.Sysctl.AcceptSourceRoute {
		// Source routing refused: silent drop (log_martians only).
		return true
	}
	return false
}

// IPOptionsCompile parses and validates the options of the IPv4 header h
// into opt, in place (writing the record-route and timestamp slots as a
// receiving host does when b is non-nil). It is exported for the fuzz
// target. It returns the ICMP Parameter Problem info word (pointer in
// the top byte) and true when the options are malformed.
func (ip *IPv4) IPOptionsCompile(h []byte, opt *skb.IPOptions, b *skb.Buffer) (uint32, bool) {
	return ip.ipOptionsCompile(h, opt, b)
}

// ipOptionsCompile mirrors ip_options.c: __ip_options_compile for a
// received packet (skb != NULL): unknown options are accepted, a second
// source route is an error, CIPSO is validated as with CONFIG_NETLABEL
// and no DOI configured (so any CIPSO option is refused at its DOI).
func (ip *IPv4) ipOptionsCompile(h []byte, opt *skb.IPOptions, b *skb.Buffer) (uint32, bool) {
	optlen := int(opt.Optlen)
	if 20+optlen > len(h) {
		optlen = len(h) - 20
	}
	pos := 20 // offset of the current option from the IP header
	l := optlen
	bad := -1
	for l > 0 {
		switch h[pos] {
		case ipoptEnd:
			for pos, l = pos+1, l-1; l > 0; pos, l = pos+1, l-1 {
				h[pos] = ipoptEnd
			}
			return 0, false
		case ipoptNoop:
			l--
			pos++
			continue
		}
		if l < 2 {
			bad = pos
			goto fail
		}
		olen := int(h[pos+1])
		if olen < 2 || olen > l {
			bad = pos
			goto fail
		}
		o := h[pos : pos+olen]
		switch h[pos] {
		case ipoptSSRR, ipoptLSRR:
			if olen < 3 {
				bad = pos + 1
				goto fail
			}
			if o[2] < 4 {
				bad = pos + 2
				goto fail
			}
			if opt.SRR != 0 {
				bad = pos
				goto fail
			}
			opt.IsStrict = h[pos] == ipoptSSRR
			opt.SRR = uint8(pos)
		case ipoptRR:
			if opt.RR != 0 {
				bad = pos
				goto fail
			}
			if olen < 3 {
				bad = pos + 1
				goto fail
			}
			if o[2] < 4 {
				bad = pos + 2
				goto fail
			}
			if int(o[2]) <= olen {
				if int(o[2])+3 > olen {
					bad = pos + 2
					goto fail
				}
				if b != nil && b.Rt.Valid {
					ip.specDstFill(b).Put(o[o[2]-1:])
				}
				o[2] += 4
				opt.RRNeedAddr = true
			}
			opt.RR = uint8(pos)
		case ipoptTS:
			if opt.TS != 0 {
				bad = pos
				goto fail
			}
			if olen < 4 {
				bad = pos + 1
				goto fail
			}
			if o[2] < 5 {
				bad = pos + 2
				goto fail
			}
			if int(o[2]) <= olen {
				var tsAt = -1
				if int(o[2])+3 > olen {
					bad = pos + 2
					goto fail
				}
				switch o[3] & 0xf {
				case ipoptTSOnly:
					if b != nil {
						tsAt = int(o[2]) - 1
					}
					opt.TSNeedTime = true
					o[2] += 4
				case ipoptTSAddr:
					if int(o[2])+7 > olen {
						bad = pos + 2
						goto fail
					}
					if b != nil && b.Rt.Valid {
						ip.specDstFill(b).Put(o[o[2]-1:])
						tsAt = int(o[2]) + 3
					}
					opt.TSNeedAddr = true
					opt.TSNeedTime = true
					o[2] += 8
				case ipoptTSPrespc:
					if int(o[2])+7 > olen {
						bad = pos + 2
						goto fail
					}
					a := wire.AddrFromSlice(o[o[2]-1:])
					if ip.InetAddrType(a) == RtnUnicast {
						break
					}
					if b != nil {
						tsAt = int(o[2]) + 3
					}
					opt.TSNeedTime = true
					o[2] += 8
				}
				if tsAt >= 0 {
					binary.BigEndian.PutUint32(o[tsAt:], ip.inetCurrentTimestamp())
				}
			} else if o[3]&0xf != ipoptTSPrespc {
				overflow := o[3] >> 4
				if overflow == 15 {
					bad = pos + 3
					goto fail
				}
				if b != nil {
					o[3] = o[3]&0xf | (overflow+1)<<4
				}
			}
			opt.TS = uint8(pos)
		case ipoptRA:
			if olen < 4 {
				bad = pos + 1
				goto fail
			}
			if o[2] == 0 && o[3] == 0 {
				opt.RouterAlert = uint8(pos)
			}
		case ipoptCIPSO:
			if opt.CIPSO != 0 {
				bad = pos
				goto fail
			}
			opt.CIPSO = uint8(pos)
			if off := cipsoV4Validate(o); off != 0 {
				bad = pos + off
				goto fail
			}
		default:
			// IPOPT_SEC, IPOPT_SID and unknown options: accepted.
		}
		l -= olen
		pos += olen
	}
	return 0, false
fail:
	return uint32(bad) << 24, true
}

// cipsoV4Validate mirrors net/ipv4/cipso_ipv4.c: cipso_v4_validate with
// no DOI defined: it returns the offset of the offending byte.
func cipsoV4Validate(o []byte) int {
	if len(o) < 8 {
		return 1
	}
	return 2 // cipso_v4_doi_search finds nothing
}

// specDstFill mirrors ip_options.c: spec_dst_fill.
func (ip *IPv4) specDstFill(b *skb.Buffer) wire.Addr { return ip.fibComputeSpecDst(b) }

// inetCurrentTimestamp is ip_options.c's inet_current_timestamp: ms since
// midnight UT. Without a wall clock it uses the monotonic clock.
func (ip *IPv4) inetCurrentTimestamp() uint32 {
	return uint32((ip.clk.Now() / 1e6) % 86400000)
}
