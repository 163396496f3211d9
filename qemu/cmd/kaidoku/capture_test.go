package main

import (
	"bytes"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/kaidoku-net/kaidoku/image/capture/captureproto"
)

// fakeService answers one capture: an Ack (or a refusal), the records
// packed into Data datagrams less those numbered in lose, and an End.
func fakeService(t *testing.T, records [][]byte, lose map[uint32]bool, refuse string) string {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	go func() {
		buf := make([]byte, 2048)
		n, from, err := c.ReadFromUDP(buf)
		if err != nil || !strings.HasPrefix(string(buf[:n]), "start") {
			return
		}
		ctl := func(kind byte, text string) {
			b := make([]byte, captureproto.HeaderLen)
			captureproto.Header{Kind: kind, FirstRecord: captureproto.NoRecordStart}.Put(b)
			c.WriteToUDP(append(b, text...), from)
		}
		if refuse != "" {
			ctl(captureproto.KindErr, refuse)
			return
		}
		ctl(captureproto.KindAck, "snaplen=65535 iface=eth0")
		p := captureproto.NewPacker()
		send := func(b []byte) {
			h, _, _ := captureproto.ParseHeader(b)
			if !lose[h.Seq] {
				c.WriteToUDP(b, from)
			}
			time.Sleep(time.Millisecond)
		}
		for _, r := range records {
			p.Add(r, send)
		}
		p.Flush(send)
		ctl(captureproto.KindEnd, captureproto.Summary{Captured: uint64(len(records)), Dropped: 2, Datagrams: p.Seq()}.String())
	}()
	return c.LocalAddr().String()
}

func TestRunCapture(t *testing.T) {
	var recs [][]byte
	for i := 0; i < 6; i++ {
		f := bytes.Repeat([]byte{byte(i)}, 700)
		recs = append(recs, captureproto.AppendRecord(nil, int64(i)*1e9, f, len(f)))
	}
	for _, tc := range []struct {
		name     string
		lose     map[uint32]bool
		refuse   string
		want     []int // records in the file
		lost     uint64
		cut      uint64
		errMatch string
	}{
		{name: "whole", want: []int{0, 1, 2, 3, 4, 5}},
		// 716-byte records in 1393-byte payloads: datagram 1 holds the
		// end of record 1, record 2 and the start of record 3; the last,
		// datagram 3, the end of record 5.
		{name: "a datagram lost", lose: map[uint32]bool{1: true}, want: []int{0, 4, 5}, lost: 1, cut: 1},
		{name: "the last datagram lost", lose: map[uint32]bool{3: true}, want: []int{0, 1, 2, 3, 4}, lost: 1, cut: 1},
		{name: "refused", refuse: "bad EtherType", errMatch: "refused: bad EtherType"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := fakeService(t, recs, tc.lose, tc.refuse)
			c, err := net.Dial("udp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			var out bytes.Buffer
			sum, err := runCapture(c, captureproto.Request{}, &out, make(chan os.Signal), 0, 5*time.Second)
			if tc.errMatch != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errMatch) {
					t.Fatalf("error %v, want %q", err, tc.errMatch)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := captureproto.FileHeader(captureproto.DefaultSnaplen)
			for _, i := range tc.want {
				want = append(want, recs[i]...)
			}
			if !bytes.Equal(out.Bytes(), want) {
				t.Errorf("file of %d bytes, want %d", out.Len(), len(want))
			}
			if !sum.ended || sum.written != uint64(len(tc.want)) || sum.dropped != 2 || sum.lost != tc.lost || sum.cut != tc.cut {
				t.Errorf("summary %+v", sum)
			}
		})
	}
}

// Nobody answering is an error that says what to check.
func TestRunCaptureNoService(t *testing.T) {
	l, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, err := net.Dial("udp", l.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = runCapture(c, captureproto.Request{}, new(bytes.Buffer), make(chan os.Signal), 0, 700*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "is the image running") {
		t.Fatalf("error %v", err)
	}
}
