// Command dns is an authoritative DNS server for a small zone
// (kaidoku.test, zone.go) over UDP, written as any Go program: the
// messages are github.com/miekg/dns's, the socket is the standard
// library's (net.ListenUDP), and package unikernel makes it an image:
//
//	kaidoku run -fwd 10053:53 ./image/dns
//	dig @127.0.0.1 -p 10053 www.kaidoku.test AAAA
//
// It answers A, AAAA, TXT, CNAME, NS and SOA queries for the zone's
// names, NXDOMAIN (with the SOA) for names the zone lacks, REFUSED for
// names outside it, NOTIMP for opcodes other than QUERY and FORMERR for
// a message it cannot parse or that does not hold one question. Replies
// fit the client's buffer: 512 bytes without EDNS0 (RFC 1035), truncated
// with TC set beyond it; the EDNS0 buffer size, up to 4096, with it (the
// stack fragments what exceeds the MTU).
//
// Built for Linux it serves on the kernel's sockets, the same program as
// the benchmark's Linux peer. Flags (after "--" on the kernel command
// line): -port (53).
package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/miekg/dns"

	"github.com/kaidoku-net/kaidoku/unikernel"
)

// maxUDP is the largest reply the server sends, whatever buffer the
// client advertises (RFC 6891 leaves the choice to the responder; 4096 is
// the usual ceiling).
const maxUDP = 4096

func main() {
	unikernel.Start(unikernel.Options{Name: "dns", WaitReady: true})
	port := flag.Int("port", 53, "the UDP port to serve")
	flag.Parse()
	z, err := parseZone(zoneText)
	if err != nil {
		fmt.Fprintf(os.Stderr, "dns: %v\n", err)
		os.Exit(1)
	}
	c, err := net.ListenUDP("udp4", &net.UDPAddr{Port: *port})
	if err != nil {
		fmt.Fprintf(os.Stderr, "dns: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("dns: authoritative for %s (%d names) on UDP port %d\n", z.origin, len(z.names), *port)
	unikernel.Ready()
	buf := make([]byte, 65536)
	for {
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		if reply := z.answer(buf[:n]); reply != nil {
			c.WriteToUDPAddrPort(reply, from)
		}
	}
}

// zone is the records of one zone by owner name and type.
type zone struct {
	origin string
	soa    *dns.SOA
	names  map[string]map[uint16][]dns.RR
}

// parseZone reads a zone in the master file format.
func parseZone(text string) (*zone, error) {
	z := &zone{names: map[string]map[uint16][]dns.RR{}}
	zp := dns.NewZoneParser(strings.NewReader(text), "", "zone.go")
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		h := rr.Header()
		name := strings.ToLower(h.Name)
		if z.names[name] == nil {
			z.names[name] = map[uint16][]dns.RR{}
		}
		z.names[name][h.Rrtype] = append(z.names[name][h.Rrtype], rr)
		if soa, ok := rr.(*dns.SOA); ok {
			z.soa, z.origin = soa, name
		}
	}
	if err := zp.Err(); err != nil {
		return nil, err
	}
	if z.soa == nil {
		return nil, errors.New("zone without SOA")
	}
	return z, nil
}

// answer returns the reply to the query req, or nil when none is due (a
// response, or fewer bytes than a header).
func (z *zone) answer(req []byte) []byte {
	var q dns.Msg
	if err := q.Unpack(req); err != nil {
		return formErr(req)
	}
	if q.Response {
		return nil
	}
	r := new(dns.Msg)
	r.SetReply(&q)
	size := dns.MinMsgSize
	if opt := q.IsEdns0(); opt != nil {
		size = max(int(opt.UDPSize()), dns.MinMsgSize)
		size = min(size, maxUDP)
		r.SetEdns0(uint16(size), false)
	}
	switch {
	case q.Opcode != dns.OpcodeQuery:
		r.Rcode = dns.RcodeNotImplemented
	case len(q.Question) != 1:
		r.Rcode = dns.RcodeFormatError
	default:
		z.lookup(r, q.Question[0])
	}
	r.Truncate(size)
	out, err := r.Pack()
	if err != nil {
		return formErr(req)
	}
	return out
}

// lookup fills r's sections for question qn.
func (z *zone) lookup(r *dns.Msg, qn dns.Question) {
	name := strings.ToLower(qn.Name)
	if !dns.IsSubDomain(z.origin, name) {
		r.Rcode = dns.RcodeRefused
		return
	}
	r.Authoritative = true
	rrs, ok := z.names[name]
	if !ok {
		r.Rcode = dns.RcodeNameError
		r.Ns = []dns.RR{z.soa}
		return
	}
	if qn.Qclass != dns.ClassINET && qn.Qclass != dns.ClassANY {
		r.Rcode = dns.RcodeRefused
		return
	}
	switch {
	case qn.Qtype == dns.TypeANY:
		for _, set := range rrs {
			r.Answer = append(r.Answer, set...)
		}
	case len(rrs[qn.Qtype]) > 0:
		r.Answer = rrs[qn.Qtype]
	case len(rrs[dns.TypeCNAME]) > 0:
		// The alias, and its target's records where the zone has them.
		r.Answer = rrs[dns.TypeCNAME]
		target := strings.ToLower(rrs[dns.TypeCNAME][0].(*dns.CNAME).Target)
		r.Answer = append(r.Answer, z.names[target][qn.Qtype]...)
	default:
		// NODATA: the name exists without records of the type.
		r.Ns = []dns.RR{z.soa}
	}
}

// formErr is the FORMERR reply to a message that does not parse: its ID
// and opcode with QR set and no sections, or nil if it is shorter than a
// header or is itself a response.
func formErr(req []byte) []byte {
	if len(req) < 12 || req[2]&0x80 != 0 {
		return nil
	}
	var h dns.Msg
	h.Id = uint16(req[0])<<8 | uint16(req[1])
	h.Response = true
	h.Opcode = int(req[2]>>3) & 0xf
	h.Rcode = dns.RcodeFormatError
	out, err := h.Pack()
	if err != nil {
		return nil
	}
	return out
}
