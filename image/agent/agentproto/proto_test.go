package agentproto

import (
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"syscall"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	req := &Request{ID: 7, Op: OpRecv, FD: 3, Len: 100, Flags: 0x42, Names: []string{"Udp.NoPorts"}, Data: []byte{0, 1, 2}}
	b, err := EncodeRequest(req)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeRequest(b)
	if err != nil || !reflect.DeepEqual(got, req) {
		t.Fatalf("request %+v, %v; want %+v", got, err, req)
	}
	ovfl := uint32(3)
	resp := &Response{ID: 7, Ret: 3, Data: []byte("abc"), From: "10.0.2.9:4000", Namelen: 16, MsgFlags: 0x20,
		RxqOvfl: &ovfl, Pktinfo: &Pktinfo{Ifindex: 2, SpecDst: "10.0.2.15", Addr: "255.255.255.255"},
		Counters: map[string]uint64{"Udp.InDatagrams": 9}}
	b, err = EncodeResponse(resp)
	if err != nil {
		t.Fatal(err)
	}
	gotR, err := DecodeResponse(b)
	if err != nil || !reflect.DeepEqual(gotR, resp) {
		t.Fatalf("response %+v, %v; want %+v", gotR, err, resp)
	}
}

func TestDecodeBad(t *testing.T) {
	for _, bad := range []string{"", "{", `{"op":3}`, `{"fd":"x"}`} {
		if _, err := DecodeRequest([]byte(bad)); err == nil {
			t.Errorf("request %q decoded", bad)
		}
		if _, err := DecodeResponse([]byte(bad)); err == nil && bad != `{"op":3}` {
			t.Errorf("response %q decoded", bad)
		}
	}
}

func TestEncodeResponseTooLarge(t *testing.T) {
	if _, err := EncodeResponse(&Response{Text: strings.Repeat("x", MaxDatagram)}); err == nil {
		t.Fatal("a response beyond one datagram encoded")
	}
}

func TestAllowed(t *testing.T) {
	host := netip.MustParsePrefix("10.0.2.2/32")
	for _, tc := range []struct {
		allow netip.Prefix
		src   string
		want  bool
	}{
		{host, "10.0.2.2", true},
		{host, "10.0.2.66", false},
		{host, "::ffff:10.0.2.2", true},
		{netip.Prefix{}, "192.0.2.1", true},
		{netip.MustParsePrefix("10.0.2.0/24"), "10.0.3.1", false},
	} {
		if got := Allowed(tc.allow, netip.MustParseAddr(tc.src)); got != tc.want {
			t.Errorf("Allowed(%v, %s) = %v", tc.allow, tc.src, got)
		}
	}
}

func TestErrorResponse(t *testing.T) {
	var r Response
	ErrorResponse(&r, fmt.Errorf("bind: %w", syscall.EADDRINUSE))
	if r.Ret != -1 || syscall.Errno(r.Errno) != syscall.EADDRINUSE || r.Err == "" {
		t.Errorf("errno error: %+v", r)
	}
	ErrorResponse(&r, errors.New("no errno"))
	if syscall.Errno(r.Errno) != syscall.EINVAL {
		t.Errorf("plain error: errno %d, want EINVAL", r.Errno)
	}
}
