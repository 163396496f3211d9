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
