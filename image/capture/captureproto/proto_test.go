package captureproto

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"
)

func TestRequestRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Request
		err  bool
	}{
		{"start", Request{Snaplen: DefaultSnaplen}, false},
		{"start type=0x0800 count=6 snaplen=128 iface=lo", Request{EtherType: 0x0800, Count: 6, Snaplen: 128, Iface: "lo"}, false},
		{"start type=arp", Request{EtherType: 0x0806, Snaplen: DefaultSnaplen}, false},
		{"start type=12", Request{}, true},
		{"start count=-1", Request{}, true},
		{"start bogus=1", Request{}, true},
		{"keep", Request{}, true},
	} {
		got, err := ParseRequest(tc.in)
		if (err != nil) != tc.err || (!tc.err && got != tc.want) {
			t.Errorf("%q: %+v, %v; want %+v (error %v)", tc.in, got, err, tc.want, tc.err)
		}
		if !tc.err {
			again, err := ParseRequest(got.String())
			if err != nil || again != got {
				t.Errorf("%q: round trip %+v, %v", got.String(), again, err)
			}
		}
	}
}

// records makes n records of growing size, some longer than a datagram.
func records(n int) [][]byte {
	var out [][]byte
	for i := 0; i < n; i++ {
		frame := bytes.Repeat([]byte{byte(i)}, 60+i*397%3000)
		out = append(out, AppendRecord(nil, int64(i)*1e9+int64(i), frame, len(frame)+i%2))
	}
	return out
}

// The packer never makes a datagram larger than a frame holds; the
// reassembler gives back every record when nothing is lost, and after a
// loss exactly the records the lost datagrams did not touch.
func TestPackReassemble(t *testing.T) {
	recs := records(40)
	var dgrams [][]byte
	p := NewPacker()
	send := func(b []byte) {
		if len(b) > HeaderLen+MaxPayload || len(b)+28 > 1500 {
			t.Fatalf("datagram of %d bytes", len(b))
		}
		dgrams = append(dgrams, append([]byte(nil), b...))
	}
	// Which datagrams each record touches.
	touches := make([][2]int, len(recs))
	for i, r := range recs {
		touches[i][0] = len(dgrams)
		p.Add(r, send)
		if i%7 == 6 {
			p.Flush(send)
		}
		touches[i][1] = len(dgrams) // the open datagram holds the tail
	}
	p.Flush(send)
	for _, lose := range [][]int{nil, {0}, {3}, {3, 4}, {len(dgrams) - 1}} {
		t.Run(fmt.Sprint(lose), func(t *testing.T) {
			lost := map[int]bool{}
			for _, l := range lose {
				lost[l] = true
			}
			var r Reassembler
			var got [][]byte
			for i, d := range dgrams {
				if lost[i] {
					continue
				}
				h, payload, err := ParseHeader(d)
				if err != nil || h.Kind != KindData || h.Seq != uint32(i) {
					t.Fatalf("header %+v %v", h, err)
				}
				got = append(got, r.Add(h, payload)...)
			}
			r.Finish(uint32(len(dgrams)))
			var want [][]byte
			for i, rec := range recs {
				ok := true
				for d := touches[i][0]; d <= touches[i][1]; d++ {
					if lost[d] {
						ok = false
					}
				}
				if ok {
					want = append(want, rec)
				}
			}
			if len(got) != len(want) {
				t.Fatalf("%d records, want %d", len(got), len(want))
			}
			for i := range got {
				if !bytes.Equal(got[i], want[i]) {
					t.Fatalf("record %d differs (ts %d)", i, binary.LittleEndian.Uint32(got[i]))
				}
			}
			if r.Lost != uint64(len(lose)) {
				t.Errorf("lost %d, want %d", r.Lost, len(lose))
			}
		})
	}
}

func TestSummaryRoundTrip(t *testing.T) {
	s := Summary{Captured: 6, Dropped: 1, SendErrors: 2, Datagrams: 9}
	got, err := ParseSummary(s.String())
	if err != nil || got != s {
		t.Fatalf("%+v %v", got, err)
	}
}
