package xdp

import (
	"bytes"
	"testing"
)

func TestAdjustBounds(t *testing.T) {
	for _, tc := range []struct {
		name       string
		head, tail int
		ok         bool
		data, end  int
	}{
		{"pop 4", 4, 0, true, 36, 100},
		{"push into all headroom", -32, 0, true, 0, 100},
		{"push beyond headroom", -33, 0, false, 32, 100},
		{"head to 14 bytes", 54, 0, true, 86, 100},
		{"head below 14 bytes", 55, 0, false, 32, 100},
		{"trim to 14 bytes", 0, -54, true, 32, 46},
		{"trim below 14 bytes", 0, -55, false, 32, 100},
		{"grow into all tailroom", 0, 28, true, 32, 128},
		{"grow beyond tailroom", 0, 29, false, 32, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b Buff
			buf := bytes.Repeat([]byte{0xee}, 128)
			b.Init(buf, 32, 100)
			var err error
			if tc.head != 0 {
				err = b.AdjustHead(tc.head)
			} else {
				err = b.AdjustTail(tc.tail)
			}
			if (err == nil) != tc.ok {
				t.Fatalf("err %v", err)
			}
			if b.Offset() != tc.data || b.Offset()+b.Len() != tc.end {
				t.Fatalf("frame at [%d:%d], want [%d:%d]", b.Offset(), b.Offset()+b.Len(), tc.data, tc.end)
			}
			if tc.tail > 0 && tc.ok && !bytes.Equal(buf[100:tc.end], make([]byte, tc.tail)) {
				t.Fatal("grown tail not zeroed")
			}
			if len(b.Data()) != b.Len() || b.Headroom() != b.Offset() || b.Tailroom() != 128-tc.end {
				t.Fatal("accessors disagree")
			}
		})
	}
}

type nopTarget struct{ n int }

func (t *nopTarget) XDPRedirect(*Buff) error { t.n++; return nil }
func (t *nopTarget) XDPFlush()               {}

func TestRedirect(t *testing.T) {
	var b Buff
	b.Init(make([]byte, 64), 0, 64)
	if b.DoRedirect() != ErrNoTarget {
		t.Fatal("redirect without a target succeeded")
	}
	tg := &nopTarget{}
	if b.RedirectTo(tg) != Redirect || b.DoRedirect() != nil || tg.n != 1 {
		t.Fatal("redirect failed")
	}
	b.Init(make([]byte, 64), 0, 64)
	if b.Target() != nil {
		t.Fatal("Init kept the previous frame's target")
	}
	if Action(3).String() != "XDP_TX" || Action(7).String() != "XDP_ACTION(7)" {
		t.Fatal("String")
	}
}
