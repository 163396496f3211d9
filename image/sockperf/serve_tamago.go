//go:build tamago

package main

import (
	"fmt"
	"syscall"

	"github.com/kaidoku-net/kaidoku/netstack/socket"
	"github.com/kaidoku-net/kaidoku/unikernel"
)

// serve answers on port with kaidoku's socket calls until the socket
// fails, or through the net package when the runtime put another stack
// on the device.
func serve(sys *unikernel.System, port uint16, c *counters) error {
	if sys.Stack == nil {
		// Another stack serves the device (the gvisor build tag): only
		// the net package reaches it.
		return serveNet(port, c)
	}
	s, err := sys.Stack.Socket(syscall.AF_INET, syscall.SOCK_DGRAM, 0)
	if err != nil {
		return err
	}
	if err := s.Bind(&socket.Sockaddr{Family: syscall.AF_INET, Port: port}); err != nil {
		return fmt.Errorf("bind port %d: %w", port, err)
	}
	fmt.Printf("sockperf: serving UDP port %d\n", port)
	unikernel.Ready()
	buf := make([]byte, 65536)
	var from socket.Sockaddr
	for {
		n, err := s.RecvFrom(buf, 0, &from)
		if err != nil {
			if err == syscall.EBADF {
				return err
			}
			continue
		}
		if c.answer(buf[:n]) {
			s.SendTo(buf[:n], 0, &from)
		}
	}
}
