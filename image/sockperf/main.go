// Command sockperf is a server for sockperf's UDP protocol (the latency
// tool in Debian's sockperf package), so that `sockperf ping-pong` and
// `sockperf under-load` measure kaidoku as they measure any host:
//
//	kaidoku run -fwd 11111:11111 ./image/sockperf
//	sockperf ping-pong -i 127.0.0.1 -p 11111 -t 10
//
// Every sockperf datagram starts with a 14-byte big-endian header: the
// sequence number (u64), the flags (u16: CLIENT 1, PONG 2, WARMUP 4) and
// the message's length (u32). The server answers a datagram only when
// CLIENT and PONG are set and WARMUP is not, sending it back whole with
// CLIENT cleared; the client sets PONG on the messages it wants answered
// (every one in ping-pong, one in -reply-every in under-load). Anything
// shorter than the header, or whose length field disagrees with the
// datagram, is dropped and counted.
//
// In the image it serves on kaidoku's own socket API (package
// netstack/socket: recvfrom and sendto, no standard library in between);
// built for Linux it serves on the kernel's sockets through package net,
// the same program as the benchmark's Linux peer, and so it does on
// gVisor's netstack, built with the gvisor tag (package unikernel). Flags (after "--" on
// the kernel command line): -port (11111), -report (print the counters
// this often; 0, the default: never).
package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"github.com/kaidoku-net/kaidoku/unikernel"
)

// The header's flags.
const (
	flagClient = 1
	flagPong   = 2
	flagWarmup = 4
)

// headerLen is the header's size: sequence, flags, length.
const headerLen = 8 + 2 + 4

// counters are what the server saw.
type counters struct {
	received, replied, malformed atomic.Uint64
}

// answer turns the datagram msg into its reply in place and reports
// whether one is due.
func (c *counters) answer(msg []byte) bool {
	c.received.Add(1)
	if len(msg) < headerLen {
		c.malformed.Add(1)
		return false
	}
	flags := binary.BigEndian.Uint16(msg[8:])
	if n := binary.BigEndian.Uint32(msg[10:]); n < headerLen || int64(n) != int64(len(msg)) {
		c.malformed.Add(1)
		return false
	}
	if flags&(flagClient|flagPong) != flagClient|flagPong || flags&flagWarmup != 0 {
		return false
	}
	binary.BigEndian.PutUint16(msg[8:], flags&^flagClient)
	c.replied.Add(1)
	return true
}

func main() {
	sys := unikernel.Start(unikernel.Options{Name: "sockperf", WaitReady: true})
	port := flag.Int("port", 11111, "the UDP port to serve")
	report := flag.Duration("report", 0, "print the counters on the console this often (0: never)")
	flag.Parse()
	if *port < 1 || *port > 65535 {
		fmt.Fprintf(os.Stderr, "sockperf: -port %d: want a UDP port, 1 to 65535\n", *port)
		os.Exit(2)
	}
	var c counters
	if *report > 0 {
		go func() {
			for range time.Tick(*report) {
				fmt.Printf("sockperf: received %d replied %d malformed %d\n", c.received.Load(), c.replied.Load(), c.malformed.Load())
			}
		}()
	}
	if err := serve(sys, uint16(*port), &c); err != nil {
		fmt.Fprintf(os.Stderr, "sockperf: %v\n", err)
		os.Exit(1)
	}
}
