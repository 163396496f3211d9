//go:build !tamago

package main

import (
	"fmt"
	"net"

	"github.com/kaidoku-net/kaidoku/unikernel"
)

// serve answers on port with the kernel's sockets until the socket
// fails.
func serve(_ *unikernel.System, port uint16, c *counters) error {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{Port: int(port)})
	if err != nil {
		return err
	}
	fmt.Printf("sockperf: serving UDP port %d\n", port)
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
