package main

import (
	"bytes"
	"errors"
	"net"
	"syscall"
	"testing"
)

// exchange is how the command talks to the guest's forwarded echo and
// stats ports: one datagram to 127.0.0.1:port, one reply back.
func TestExchange(t *testing.T) {
	srv, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	go func() {
		buf := make([]byte, 65536)
		for {
			n, from, err := srv.ReadFromUDP(buf)
			if err != nil {
				return
			}
			srv.WriteToUDP(append([]byte("re: "), buf[:n]...), from)
		}
	}()
	port := srv.LocalAddr().(*net.UDPAddr).Port
	for _, msg := range [][]byte{[]byte("stats"), bytes.Repeat([]byte("kaidoku "), 8), make([]byte, 60000)} {
		reply, err := exchange(port, msg)
		if err != nil || !bytes.Equal(reply, append([]byte("re: "), msg...)) {
			t.Fatalf("%d bytes: reply of %d bytes, %v", len(msg), len(reply), err)
		}
	}
}

// A port nobody listens on fails at once with the ICMP port unreachable
// the host's loopback returns, instead of waiting out the deadline.
func TestExchangeClosedPort(t *testing.T) {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	port := c.LocalAddr().(*net.UDPAddr).Port
	c.Close()
	if reply, err := exchange(port, []byte("stats")); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("reply %q, error %v; want ECONNREFUSED", reply, err)
	}
}
