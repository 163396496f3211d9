//go:build !tamago

package main

import "github.com/kaidoku-net/kaidoku/unikernel"

// serve answers on port with the kernel's sockets until the socket
// fails.
func serve(_ *unikernel.System, port uint16, c *counters) error { return serveNet(port, c) }
