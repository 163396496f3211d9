package socket_test

import (
	"fmt"
	"time"

	"github.com/kaidoku-net/kaidoku/netstack"
	"github.com/kaidoku-net/kaidoku/netstack/netstacktest"
	"github.com/kaidoku-net/kaidoku/netstack/skb"
	"github.com/kaidoku-net/kaidoku/netstack/socket"
)

// Software receive timestamps: ask for them once, then read each
// datagram's arrival time from its control data. (The stack's real-time
// clock is fixed here so that the output is.)
func ExampleMsghdr_RxTimestamp() {
	pool, _ := skb.NewPool("frames", 2048, 64, skb.HeapMemory)
	arrival := time.Date(2026, 12, 4, 6, 0, 0, 123456789, time.UTC)
	st, _ := netstack.New(netstack.Config{Link: netstacktest.NullLink{}, FramePool: pool,
		Addr: [4]byte{10, 0, 2, 15}, PrefixLen: 24,
		Realtime: func() int64 { return arrival.UnixNano() }})
	lo := [4]byte{127, 0, 0, 1}

	s, _ := st.Socket(socket.AFInet, socket.SockDgram, 0)
	defer s.Close()
	s.Bind(&socket.Sockaddr{Family: socket.AFInet, Port: 9000, Addr: lo})
	err := s.SetsockoptInt(socket.SolSocket, socket.SoTimestamping,
		socket.SofTimestampingRxSoftware|socket.SofTimestampingSoftware)
	if err != nil {
		panic(err)
	}

	c, _ := st.Socket(socket.AFInet, socket.SockDgram, 0)
	defer c.Close()
	c.SendTo([]byte("hello"), 0, &socket.Sockaddr{Family: socket.AFInet, Port: 9000, Addr: lo})

	buf := make([]byte, 2048)
	m := socket.Msghdr{Control: make([]byte, 128)}
	n, err := s.RecvMsg(buf, socket.MsgDontwait, &m)
	if err != nil {
		panic(err)
	}
	at, ok := m.RxTimestamp()
	fmt.Println(n, "bytes, received at", at.UTC().Format(time.RFC3339Nano), ok)
	fmt.Println("control:", m.Controllen, "bytes (SCM_TIMESTAMPING)")
	// Output:
	// 5 bytes, received at 2026-12-04T06:00:00.123456789Z true
	// control: 64 bytes (SCM_TIMESTAMPING)
}
