package udp

import "testing"

// TestErrQueueAccounting: sock_queue_err_skb charges sk_rmem_alloc and
// refuses at sk_rcvbuf; sock_dequeue_err_skb sets sk_err to the next
// ICMP error's errno, or clears it after the last; the entry's memory
// goes back when it is freed.
func TestErrQueueAccounting(t *testing.T) {
	sk := &Sock{}
	sk.rcvbuf.Store(10000)
	e := func(errno uint32, truesize int) *errSkb {
		return &errSkb{ee: ExtendedErr{Errno: errno, Origin: SoEeOriginICMP}, truesize: truesize}
	}
	for i, c := range []struct {
		e    *errSkb
		want int
		rmem int32
	}{
		{e(ECONNREFUSED, 4000), 0, 4000},
		{e(EHOSTUNREACH, 4000), 0, 8000},
		{e(EMSGSIZE, 2000), -ENOMEM, 8000}, // 8000 + 2000 reaches 10000
		{e(EMSGSIZE, 1999), 0, 9999},
	} {
		if got := sk.sockQueueErrSkb(c.e); got != c.want || sk.rmemAlloc.Load() != c.rmem {
			t.Fatalf("queue %d: %d, rmem %d; want %d, %d", i, got, sk.rmemAlloc.Load(), c.want, c.rmem)
		}
	}
	for i, want := range []struct {
		errno uint32
		skErr int32
		rmem  int32
	}{
		{ECONNREFUSED, EHOSTUNREACH, 5999},
		{EHOSTUNREACH, EMSGSIZE, 1999},
		{EMSGSIZE, 0, 0},
	} {
		e := sk.sockDequeueErrSkb()
		if e == nil || e.ee.Errno != want.errno || sk.err.Load() != want.skErr {
			t.Fatalf("dequeue %d: %+v, sk_err %d; want errno %d, sk_err %d", i, e, sk.err.Load(), want.errno, want.skErr)
		}
		sk.sockRmemFree(e)
		if sk.rmemAlloc.Load() != want.rmem {
			t.Fatalf("dequeue %d: rmem %d, want %d", i, sk.rmemAlloc.Load(), want.rmem)
		}
	}
	if sk.sockDequeueErrSkb() != nil || !sk.errq.empty() {
		t.Fatal("queue not empty")
	}
}
