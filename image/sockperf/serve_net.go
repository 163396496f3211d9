package main

import (
	"fmt"
	"net"

	"github.com/kaidoku-net/kaidoku/unikernel"
)

// serveNet answers on port through the standard library's net package
// until the socket fails: the kernel's sockets on Linux, and in an image
// whose runtime put another stack than kaidoku's on the device (the
// gvisor build tag), that stack's.
func serveNet(port uint16, c *counters) error {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{Port: int(port)})
	if err != nil {
		return err
	}
	fmt.Printf("sockperf: serving UDP port %d\n", port)
	unikernel.Ready()
	buf := make([]byte, 65536)
	for {
		n, from, err := conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return err
		}
		if c.answer(buf[:n]) {
			conn.WriteToUDPAddrPort(buf[:n], from)
		}
	}
}
