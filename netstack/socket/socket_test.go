package socket

import (
	"errors"
	"syscall"
	"testing"
)

func TestTimevalToTimeout(t *testing.T) {
	for _, c := range []struct {
		tv   Timeval
		want int64
		err  error
	}{
		{Timeval{0, 0}, -1, nil},
		{Timeval{0, 200000}, 200e6, nil},
		{Timeval{0, 1}, 1e6, nil},    // rounded up to a jiffy
		{Timeval{0, 1001}, 2e6, nil}, // DIV_ROUND_UP
		{Timeval{1, 500000}, 1500e6, nil},
		{Timeval{-1, 0}, 0, nil}, // negative: non-blocking
		{Timeval{-5, 999999}, 0, nil},
		{Timeval{0, -1}, 0, syscall.EDOM},
		{Timeval{0, 1000000}, 0, syscall.EDOM},
		{Timeval{1 << 62, 0}, -1, nil}, // beyond MAX_SCHEDULE_TIMEOUT/HZ
	} {
		got, err := TimevalToTimeout(c.tv)
		if got != c.want || !errors.Is(err, c.err) && !(err == nil && c.err == nil) {
			t.Errorf("%+v: %d %v, want %d %v", c.tv, got, err, c.want, c.err)
		}
	}
}

// socket(2)'s type and family checks before a family sees the call, in
// Linux's order: flags, the family's range, the type's range.
func TestSockType(t *testing.T) {
	for _, c := range []struct {
		domain, typ int
		want        int
		nonblock    bool
		err         error
	}{
		{AFInet, SockDgram, SockDgram, false, nil},
		{AFInet, SockDgram | SockNonblock | SockCloexec, SockDgram, true, nil},
		{AFPacket, 5, 5, false, nil}, // SOCK_SEQPACKET: the family refuses it
		{AFPacket, 10, 10, false, nil},
		{AFPacket, 11, 0, false, syscall.EINVAL}, // beyond SOCK_PACKET
		{AFInet6, 15, 0, false, syscall.EINVAL},  // before the family's support
		{AFInet, SockDgram | 0x100, 0, false, syscall.EINVAL},
		{AFInet, -1, 0, false, syscall.EINVAL},
		{46, SockDgram, 0, false, syscall.EAFNOSUPPORT},
		{46, 99, 0, false, syscall.EINVAL}, // flags come first
		{-1, SockDgram, 0, false, syscall.EAFNOSUPPORT},
	} {
		typ, nb, err := sockType(c.domain, c.typ)
		if typ != c.want || nb != c.nonblock || err != c.err {
			t.Errorf("sockType(%d, %#x) = %d, %v, %v; want %d, %v, %v", c.domain, c.typ, typ, nb, err, c.want, c.nonblock, c.err)
		}
	}
}
