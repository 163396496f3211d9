package main

import (
	"testing"

	"github.com/miekg/dns"
)

func query(name string, qtype uint16, edns uint16) []byte {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.Id = 0x1234
	if edns > 0 {
		m.SetEdns0(edns, false)
	}
	b, err := m.Pack()
	if err != nil {
		panic(err)
	}
	return b
}

func TestAnswer(t *testing.T) {
	z, err := parseZone(zoneText)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		req     []byte
		rcode   int
		answers int
		tc      bool
		maxLen  int // 0: no bound
		edns    uint16
	}{
		{"A", query("www.kaidoku.test.", dns.TypeA, 0), dns.RcodeSuccess, 1, false, 512, 0},
		{"AAAA", query("www.kaidoku.test.", dns.TypeAAAA, 0), dns.RcodeSuccess, 1, false, 512, 0},
		{"TXT", query("txt.kaidoku.test.", dns.TypeTXT, 0), dns.RcodeSuccess, 1, false, 512, 0},
		{"case-insensitive", query("WWW.Kaidoku.TEST.", dns.TypeA, 0), dns.RcodeSuccess, 1, false, 512, 0},
		{"CNAME and target", query("alias.kaidoku.test.", dns.TypeA, 0), dns.RcodeSuccess, 2, false, 512, 0},
		{"NXDOMAIN", query("nope.kaidoku.test.", dns.TypeA, 0), dns.RcodeNameError, 0, false, 512, 0},
		{"NODATA", query("txt.kaidoku.test.", dns.TypeA, 0), dns.RcodeSuccess, 0, false, 512, 0},
		{"outside the zone", query("example.com.", dns.TypeA, 0), dns.RcodeRefused, 0, false, 512, 0},
		{"big without EDNS0: TC", query("big.kaidoku.test.", dns.TypeTXT, 0), dns.RcodeSuccess, -1, true, 512, 0},
		{"big with EDNS0 4096: whole", query("big.kaidoku.test.", dns.TypeTXT, 4096), dns.RcodeSuccess, 16, false, 4096, 4096},
		{"big with EDNS0 1232: TC", query("big.kaidoku.test.", dns.TypeTXT, 1232), dns.RcodeSuccess, -1, true, 1232, 1232},
		{"EDNS0 buffer under 512 counts as 512", query("www.kaidoku.test.", dns.TypeA, 100), dns.RcodeSuccess, 1, false, 512, 512},
		{"EDNS0 buffer over 4096 capped", query("big.kaidoku.test.", dns.TypeTXT, 65000), dns.RcodeSuccess, 16, false, 4096, 4096},
	} {
		out := z.answer(tc.req)
		if out == nil {
			t.Errorf("%s: no reply", tc.name)
			continue
		}
		var r dns.Msg
		if err := r.Unpack(out); err != nil {
			t.Errorf("%s: reply does not parse: %v", tc.name, err)
			continue
		}
		if !r.Response || r.Id != 0x1234 || r.Rcode != tc.rcode || r.Truncated != tc.tc {
			t.Errorf("%s: QR %v id %#x rcode %s TC %v; want rcode %s TC %v", tc.name, r.Response, r.Id,
				dns.RcodeToString[r.Rcode], r.Truncated, dns.RcodeToString[tc.rcode], tc.tc)
		}
		if tc.answers >= 0 && len(r.Answer) != tc.answers {
			t.Errorf("%s: %d answers, want %d", tc.name, len(r.Answer), tc.answers)
		}
		if tc.maxLen > 0 && len(out) > tc.maxLen {
			t.Errorf("%s: %d bytes, over %d", tc.name, len(out), tc.maxLen)
		}
		if opt := r.IsEdns0(); (opt != nil) != (tc.edns > 0) || opt != nil && opt.UDPSize() != tc.edns {
			t.Errorf("%s: OPT %v, want UDP size %d", tc.name, opt, tc.edns)
		}
		if tc.rcode == dns.RcodeNameError && (len(r.Ns) != 1 || r.Ns[0].Header().Rrtype != dns.TypeSOA) {
			t.Errorf("%s: authority %v, want the SOA", tc.name, r.Ns)
		}
	}
}

func TestAnswerMalformed(t *testing.T) {
	z, err := parseZone(zoneText)
	if err != nil {
		t.Fatal(err)
	}
	resp := query("www.kaidoku.test.", dns.TypeA, 0)
	resp[2] |= 0x80
	noQ := query("www.kaidoku.test.", dns.TypeA, 0)[:12]
	noQ[5] = 0 // QDCOUNT 0
	iquery := query("www.kaidoku.test.", dns.TypeA, 0)
	iquery[2] |= 1 << 3 // opcode IQUERY
	for _, tc := range []struct {
		name  string
		req   []byte
		rcode int // -1: no reply
	}{
		{"short", []byte{1, 2, 3}, -1},
		{"a response", resp, -1},
		{"header claiming a question it lacks", query("x.", dns.TypeA, 0)[:12], dns.RcodeFormatError},
		{"garbage after a header", append([]byte{0xab, 0xcd, 0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0}, 0xff, 0xff, 0xff), dns.RcodeFormatError},
		{"no question", noQ, dns.RcodeFormatError},
		{"IQUERY", iquery, dns.RcodeNotImplemented},
	} {
		out := z.answer(tc.req)
		if tc.rcode < 0 {
			if out != nil {
				t.Errorf("%s: replied % x, want no reply", tc.name, out)
			}
			continue
		}
		var r dns.Msg
		if out == nil || r.Unpack(out) != nil {
			t.Errorf("%s: reply % x, want %s", tc.name, out, dns.RcodeToString[tc.rcode])
			continue
		}
		if r.Rcode != tc.rcode || !r.Response || r.Id != uint16(tc.req[0])<<8|uint16(tc.req[1]) {
			t.Errorf("%s: rcode %s QR %v id %#x, want %s with the query's id", tc.name, dns.RcodeToString[r.Rcode], r.Response, r.Id, dns.RcodeToString[tc.rcode])
		}
	}
}
