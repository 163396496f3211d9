package socket

import (
	"bytes"
	"testing"
)

// TestCmsgMacros: CMSG_LEN and CMSG_SPACE of x86_64 Linux (16-byte
// cmsghdr, 8-byte alignment).
func TestCmsgMacros(t *testing.T) {
	for _, c := range []struct{ n, len, space int }{
		{0, 16, 16}, {4, 20, 24}, {12, 28, 32}, {32, 48, 48}, {33, 49, 56},
	} {
		if CmsgLen(c.n) != c.len || CmsgSpace(c.n) != c.space {
			t.Errorf("n %d: CMSG_LEN %d CMSG_SPACE %d, want %d %d", c.n, CmsgLen(c.n), CmsgSpace(c.n), c.len, c.space)
		}
	}
}

// TestPutCmsg: put_cmsg's layout, padding and truncation.
func TestPutCmsg(t *testing.T) {
	data := []byte{1, 2, 3, 4, 5}
	full := []byte{21, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0, 0, 1, 2, 3, 4, 5}
	for _, c := range []struct {
		room      int
		want      []byte
		used      int
		truncated bool
	}{
		{64, full, 24, false},
		{24, full, 24, false},
		{21, full, 21, false},
		{18, append([]byte{18}, full[1:18]...), 18, true},
		{15, nil, 0, true},
	} {
		m := Msghdr{Control: make([]byte, c.room)}
		m.putCmsg(SolIP, IPPktinfo, data)
		got := m.Control[:m.Controllen]
		if m.Controllen != c.used || !bytes.Equal(got[:min(len(got), len(c.want))], c.want[:min(len(got), len(c.want))]) ||
			(m.Flags&MsgCtrunc != 0) != c.truncated {
			t.Errorf("room %d: % x (used %d, flags %#x), want % x (used %d, truncated %v)",
				c.room, got, m.Controllen, m.Flags, c.want, c.used, c.truncated)
		}
	}
}

// TestEncodeTimestamps: SCM_TIMESTAMP is a timeval (µs truncated),
// SCM_TIMESTAMPNS a timespec and SCM_TIMESTAMPING three timespecs with
// unset ones zero; a time before the epoch has a negative second and a
// non-negative fraction (ns_to_timespec64).
func TestEncodeTimestamps(t *testing.T) {
	le := func(v ...int64) []byte {
		var b []byte
		for _, x := range v {
			b = append(b, byte(x), byte(x>>8), byte(x>>16), byte(x>>24), byte(x>>32), byte(x>>40), byte(x>>48), byte(x>>56))
		}
		return b
	}
	hdr := func(typ, n int) []byte { return append(le(int64(16+n)), byte(SolSocket), 0, 0, 0, byte(typ), 0, 0, 0) }
	for _, c := range []struct {
		name string
		m    Msghdr
		want []byte
	}{
		{"timeval", Msghdr{TstampType: SoTimestamp, Tstamp: 1_700_000_000_123_456_789},
			append(hdr(SoTimestamp, 16), le(1_700_000_000, 123_456)...)},
		{"timespec new", Msghdr{TstampType: SoTimestampnsNew, Tstamp: 5_000_000_007},
			append(hdr(SoTimestampnsNew, 16), le(5, 7)...)},
		{"before the epoch", Msghdr{TstampType: SoTimestampns, Tstamp: -1},
			append(hdr(SoTimestampns, 16), le(-1, 999_999_999)...)},
		{"scm_timestamping", Msghdr{TimestampingType: SoTimestamping, Timestamping: [3]int64{2_000_000_001, 0, 0}},
			append(hdr(SoTimestamping, 48), le(2, 1, 0, 0, 0, 0)...)},
		{"none", Msghdr{Tstamp: 5}, nil},
	} {
		c.m.Control = make([]byte, 128)
		c.m.encodeControl()
		if got := c.m.Control[:c.m.Controllen]; !bytes.Equal(got, c.want) {
			t.Errorf("%s:\n got % x\nwant % x", c.name, got, c.want)
		}
	}
}
