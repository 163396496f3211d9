package socket_test

import (
	"fmt"
	"time"

	"github.com/kaidoku-net/kaidoku/netstack/socket"
)

// Software receive timestamps: ask for them once, then read each
// datagram's arrival time from its control data. s is a bound socket
// from netstack.Stack.Socket.
func ExampleMsghdr_RxTimestamp() {
	var s *socket.Socket // from netstack.Stack.Socket, bound
	if s == nil {
		return
	}
	err := s.SetsockoptInt(socket.SolSocket, socket.SoTimestamping,
		socket.SofTimestampingRxSoftware|socket.SofTimestampingSoftware)
	if err != nil {
		panic(err)
	}
	buf := make([]byte, 2048)
	for {
		var m socket.Msghdr
		n, err := s.RecvMsg(buf, 0, &m)
		if err != nil {
			return
		}
		if at, ok := m.RxTimestamp(); ok {
			fmt.Printf("%d bytes, %v in the stack\n", n, time.Since(at))
		}
	}
}
