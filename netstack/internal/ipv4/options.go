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
	if opt.SRR != 0 {
		if !ip.Sysctl.AcceptSourceRoute {
			// Source routing refused: silent drop (log_martians only).
			return true
		}
		if ip.ipOptionsRcvSrr(b) {
			return true
		}
	}
	return false
}

// ipOptionsRcvSrr mirrors ip_options.c: ip_options_rcv_srr on a host
// (forwarding off): a source-routed packet must have come to this host
// in a unicast frame; every hop still listed must be whole and be one of
// this host's addresses, which becomes the destination in place
// ("superfast loopback forward"); any other hop routes as unreachable
// and the packet is dropped, as is a source route in a packet not routed
// to this host. It reports whether to drop b.
func (ip *IPv4) ipOptionsRcvSrr(b *skb.Buffer) bool {
	if !b.Rt.Valid {
		return false
	}
	if b.PktType != skb.PacketHost {
		return true
	}
	if b.Rt.Type == RtnUnicast {
		if !b.CB.Opt.IsStrict {
			return false
		}
		ip.IcmpSend(b, wire.ICMPParameterProb, 0, 16<<24)
		return true
	}
	if b.Rt.Type != RtnLocal {
		return true
	}
	h := wire.IPv4(b.Data())
	o := h[b.CB.Opt.SRR:]
	for ptr, space := int(o[2]), int(o[1]); ptr <= space; ptr += 4 {
		if ptr+3 > space {
			ip.IcmpSend(b, wire.ICMPParameterProb, 0, uint32(b.CB.Opt.SRR+2)<<24)
			return true
		}
		nexthop := wire.AddrFromSlice(o[ptr-1:])
		old := b.Rt
		b.Rt = skb.Route{}
		if ip.ipRouteInputNoref(b, nexthop, h.Src(), h.TOS(), h.Protocol()) != 0 ||
			(b.Rt.Type != RtnUnicast && b.Rt.Type != RtnLocal) {
			b.Rt = old
			return true
		}
		if b.Rt.Type != RtnLocal {
			// Forwarding to the next hop (srr_is_hit): a host
			// never gets a unicast route here.
			break
		}
		nexthop.Put(h[16:20])
	}
	return false
}

// optOK is what a per-option check returns for a valid option; anything
// else is the offset, inside the option, of the byte a parameter problem
// points at (pp_ptr - optptr).
const optOK = -1

// optCompiler is __ip_options_compile's state while it walks one
// header's options: the header h (options are rewritten in place), the
// compiled result opt, and the received packet b, nil when compiling
// without one (no slots are filled then).
type optCompiler struct {
	ip  *IPv4
	h   []byte
	opt *skb.IPOptions
	b   *skb.Buffer
}

// ipOptionsCompile mirrors ip_options.c: __ip_options_compile for a
// received packet (skb != NULL): unknown options are accepted, a second
// source route is an error, CIPSO is validated as with CONFIG_NETLABEL
// and no DOI configured (so any CIPSO option is refused at its DOI). It
// returns the ICMP Parameter Problem info word (pointer in the top byte)
// and true when the options are malformed; opt then holds what was
// compiled before the bad option, as IPCB does.
func (ip *IPv4) ipOptionsCompile(h []byte, opt *skb.IPOptions, b *skb.Buffer) (uint32, bool) {
	c := optCompiler{ip: ip, h: h, opt: opt, b: b}
	end := min(wire.IPv4MinHLen+int(opt.Optlen), len(h))
	for pos := wire.IPv4MinHLen; pos < end; {
		switch h[pos] {
		case ipoptEnd:
			optEnd(h[pos:end])
			return 0, false
		case ipoptNoop:
			pos++
			continue
		}
		l := end - pos
		if l < 2 {
			return optParamProb(pos)
		}
		olen := int(h[pos+1])
		if olen < 2 || olen > l {
			return optParamProb(pos)
		}
		if bad := c.option(pos, h[pos:pos+olen]); bad != optOK {
			return optParamProb(pos + bad)
		}
		pos += olen
	}
	return 0, false
}

// optParamProb is the error label: the Parameter Problem info word
// pointing at offset pp of the header.
func optParamProb(pp int) (uint32, bool) { return uint32(pp) << 24, true }

// optEnd is the IPOPT_END case: everything after the end of the option
// list is overwritten with IPOPT_END.
func optEnd(rest []byte) {
	for i := range rest {
		rest[i] = ipoptEnd
	}
}

// option dispatches one option o found at offset pos, of a length
// already checked against the header, to its case of the switch.
func (c *optCompiler) option(pos int, o []byte) int {
	switch o[0] {
	case ipoptSSRR, ipoptLSRR:
		return c.srr(pos, o)
	case ipoptRR:
		return c.rr(pos, o)
	case ipoptTS:
		return c.ts(pos, o)
	case ipoptRA:
		return c.ra(pos, o)
	case ipoptCIPSO:
		return c.cipso(pos, o)
	}
	// IPOPT_SEC, IPOPT_SID and unknown options: accepted on receive.
	return optOK
}

// srr is the IPOPT_SSRR/IPOPT_LSRR case: one source route per header
// (RFC 1812 5.2.4.1) with a pointer at or past the first slot.
func (c *optCompiler) srr(pos int, o []byte) int {
	if len(o) < 3 {
		return 1
	}
	if o[2] < 4 {
		return 2
	}
	if c.opt.SRR != 0 {
		return 0
	}
	c.opt.IsStrict = o[0] == ipoptSSRR
	c.opt.SRR = uint8(pos)
	return optOK
}

// rr is the IPOPT_RR case: when a slot is free (pointer within the
// option) it must be whole, and a received packet gets this host's
// address in it (spec_dst_fill).
func (c *optCompiler) rr(pos int, o []byte) int {
	if c.opt.RR != 0 {
		return 0
	}
	if len(o) < 3 {
		return 1
	}
	if o[2] < 4 {
		return 2
	}
	if ptr := int(o[2]); ptr <= len(o) {
		if ptr+3 > len(o) {
			return 2
		}
		if c.b != nil && c.b.Rt.Valid {
			c.ip.specDstFill(c.b).Put(o[ptr-1:])
		}
		o[2] += 4
		c.opt.RRNeedAddr = true
	}
	c.opt.RR = uint8(pos)
	return optOK
}

// ts is the IPOPT_TIMESTAMP case: a free slot is filled according to
// the flag (tsSlot); a full option counts an overflow instead.
func (c *optCompiler) ts(pos int, o []byte) int {
	if c.opt.TS != 0 {
		return 0
	}
	if len(o) < 4 {
		return 1
	}
	if o[2] < 5 {
		return 2
	}
	bad := optOK
	if int(o[2]) <= len(o) {
		bad = c.tsSlot(o)
	} else if o[3]&0xf != ipoptTSPrespc {
		bad = c.tsOverflow(o)
	}
	if bad != optOK {
		return bad
	}
	c.opt.TS = uint8(pos)
	return optOK
}

// tsSlot fills the timestamp slot at the pointer: a time (flag 0), this
// host's address and a time (flag 1), or a time after a prespecified
// address that is one of ours (flag 3); other flags are left alone.
func (c *optCompiler) tsSlot(o []byte) int {
	ptr := int(o[2])
	if ptr+3 > len(o) {
		return 2
	}
	timeAt := -1
	switch o[3] & 0xf {
	case ipoptTSOnly:
		if c.b != nil {
			timeAt = ptr - 1
		}
		c.opt.TSNeedTime = true
		o[2] += 4
	case ipoptTSAddr:
		if ptr+7 > len(o) {
			return 2
		}
		if c.b != nil && c.b.Rt.Valid {
			c.ip.specDstFill(c.b).Put(o[ptr-1:])
			timeAt = ptr + 3
		}
		c.opt.TSNeedAddr = true
		c.opt.TSNeedTime = true
		o[2] += 8
	case ipoptTSPrespc:
		if ptr+7 > len(o) {
			return 2
		}
		if c.ip.InetAddrType(wire.AddrFromSlice(o[ptr-1:])) == RtnUnicast {
			break
		}
		if c.b != nil {
			timeAt = ptr + 3
		}
		c.opt.TSNeedTime = true
		o[2] += 8
	}
	if timeAt >= 0 {
		binary.BigEndian.PutUint32(o[timeAt:], c.ip.inetCurrentTimestamp())
	}
	return optOK
}

// tsOverflow counts a timestamp this host could not record in the
// option's overflow nibble, which must not already be at 15.
func (c *optCompiler) tsOverflow(o []byte) int {
	overflow := o[3] >> 4
	if overflow == 15 {
		return 3
	}
	if c.b != nil {
		o[3] = o[3]&0xf | (overflow+1)<<4
	}
	return optOK
}

// ra is the IPOPT_RA case: router alert with value 0 is recorded.
func (c *optCompiler) ra(pos int, o []byte) int {
	if len(o) < 4 {
		return 1
	}
	if o[2] == 0 && o[3] == 0 {
		c.opt.RouterAlert = uint8(pos)
	}
	return optOK
}

// cipso is the IPOPT_CIPSO case: one per header, then cipso_v4_validate.
func (c *optCompiler) cipso(pos int, o []byte) int {
	if c.opt.CIPSO != 0 {
		return 0
	}
	c.opt.CIPSO = uint8(pos)
	if off := cipsoV4Validate(o); off != 0 {
		return off
	}
	return optOK
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

// ipOptionsData is struct ip_options with its __data: the options of a
// datagram this host sends, built by ipOptionsEcho. Offsets in opt count
// from the start of the IP header, as in IPCB.
type ipOptionsData struct {
	opt   skb.IPOptions
	faddr wire.Addr // first hop of a reversed source route
	// addr is cork->addr, the final destination written into the last
	// source-route slot (ipc.addr: the sender being answered).
	addr wire.Addr
	data [40]byte
}

// ipOptionsEcho mirrors ip_options.c: __ip_options_echo: from the options
// sopt compiled out of the header nh, build in d those of a reply: record
// route and timestamp are copied with a slot reserved for this host when
// one is free, a source route is reversed, and everything else dropped.
// It reports false (-EINVAL: send nothing) when a reserved slot would not
// fit. CIPSO is never echoed: ipOptionsCompile refuses every CIPSO option.
func (ip *IPv4) ipOptionsEcho(d *ipOptionsData, nh []byte, sopt *skb.IPOptions) bool {
	*d = ipOptionsData{}
	if sopt.Optlen == 0 {
		return true
	}
	n := 0 // dopt->optlen
	if sopt.RR != 0 {
		o := nh[sopt.RR:]
		olen, soff := int(o[1]), int(o[2])
		dp := d.data[n : n+olen]
		copy(dp, o[:olen])
		d.opt.RR = uint8(n + wire.IPv4MinHLen)
		if sopt.RRNeedAddr && soff <= olen {
			if soff+3 > olen {
				return false
			}
			dp[2] = byte(soff + 4)
			d.opt.RRNeedAddr = true
		}
		n += olen
	}
	if sopt.TS != 0 {
		o := nh[sopt.TS:]
		olen, soff := int(o[1]), int(o[2])
		dp := d.data[n : n+olen]
		copy(dp, o[:olen])
		d.opt.TS = uint8(n + wire.IPv4MinHLen)
		if soff <= olen {
			if sopt.TSNeedAddr {
				if soff+3 > olen {
					return false
				}
				d.opt.TSNeedAddr = true
				soff += 4
			}
			if sopt.TSNeedTime {
				if soff+3 > olen {
					return false
				}
				if dp[3]&0xf != ipoptTSPrespc {
					d.opt.TSNeedTime = true
					soff += 4
				} else if soff+7 <= olen {
					// The next prespecified address gets a time only
					// if it is one of ours.
					if ip.InetAddrType(wire.AddrFromSlice(dp[soff-1:])) != RtnUnicast {
						d.opt.TSNeedTime = true
						soff += 8
					}
				}
			}
			dp[2] = byte(soff)
		}
		n += olen
	}
	if sopt.SRR != 0 {
		start := nh[sopt.SRR:]
		olen, soff := int(start[1]), int(start[2])
		doff := 0
		dp := d.data[n:]
		if soff > olen {
			soff = olen + 1
		}
		soff -= 4 // the last hop visited
		var faddr wire.Addr
		if soff > 3 {
			faddr = wire.AddrFromSlice(start[soff-1:])
			for soff, doff = soff-4, 4; soff > 3; soff, doff = soff-4, doff+4 {
				copy(dp[doff-1:doff+3], start[soff-1:soff+3])
			}
			// RFC 1812 requires fixing a route that lists the source.
			if wire.IPv4(nh).Src() == wire.AddrFromSlice(start[soff+3:]) {
				doff -= 4
			}
		}
		if doff > 3 {
			d.faddr = faddr
			dp[0], dp[1], dp[2] = start[0], byte(doff+3), 4
			d.opt.SRR = uint8(n + wire.IPv4MinHLen)
			d.opt.IsStrict = sopt.IsStrict
			n += doff + 3
		}
	}
	for ; n&3 != 0; n++ {
		d.data[n] = ipoptEnd
	}
	d.opt.Optlen = uint8(n)
	return true
}

// ipOptionsBuild mirrors ip_options.c: ip_options_build: write the options
// of o into the header h (whose IHL it sets, leaving the checksum to the
// caller), the final destination into the source route's last slot, and
// this host's source address and the time into the reserved record-route
// and timestamp slots (ip_rt_get_source of an output route is the
// header's saddr).
func (ip *IPv4) ipOptionsBuild(h []byte, o *ipOptionsData) {
	n := int(o.opt.Optlen)
	h[0] = h[0]&0xf0 | byte((wire.IPv4MinHLen+n)/4)
	copy(h[wire.IPv4MinHLen:], o.data[:n])
	if s := int(o.opt.SRR); s != 0 {
		o.addr.Put(h[s+int(h[s+1])-4:])
	}
	src := wire.IPv4(h).Src()
	if r := int(o.opt.RR); o.opt.RRNeedAddr {
		src.Put(h[r+int(h[r+2])-5:])
	}
	t := int(o.opt.TS)
	if o.opt.TSNeedAddr {
		src.Put(h[t+int(h[t+2])-9:])
	}
	if o.opt.TSNeedTime {
		binary.BigEndian.PutUint32(h[t+int(h[t+2])-5:], ip.inetCurrentTimestamp())
	}
}

// ipOptionsFragment mirrors ip_options.c: ip_options_fragment: in the
// header of a fragment after the first, options without the "copied"
// bit become NOPs.
func ipOptionsFragment(h []byte) {
	opts := h[wire.IPv4MinHLen:wire.IPv4(h).HeaderLen()]
	for len(opts) > 0 {
		switch opts[0] {
		case ipoptEnd:
			return
		case ipoptNoop:
			opts = opts[1:]
			continue
		}
		if len(opts) < 2 {
			return
		}
		olen := int(opts[1])
		if olen < 2 || olen > len(opts) {
			return
		}
		if opts[0]&0x80 == 0 { // !IPOPT_COPIED
			for i := range opts[:olen] {
				opts[i] = ipoptNoop
			}
		}
		opts = opts[olen:]
	}
}

// putOptions writes d's options, if any, into the header p that PutIPv4
// wrote (__ip_make_skb → ip_options_build), turning those not copied into
// fragments into NOPs after the first fragment (ip_frag_ipcb →
// ip_options_fragment), and recomputes the checksum.
func (ip *IPv4) putOptions(p []byte, d *Datagram, first bool) {
	if d.opt == nil || d.opt.opt.Optlen == 0 {
		return
	}
	ip.ipOptionsBuild(p, d.opt)
	if !first {
		ipOptionsFragment(p)
	}
	wire.IPv4(p).SetChecksum()
}
