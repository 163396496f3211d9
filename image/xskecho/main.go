//go:build tamago

// Command xskecho is a UDP echo on an AF_XDP socket (package xsk), the
// kernel-bypass path beside kaidoku's socket path on the same driver:
// an XDP program redirects every UDP datagram to the echo port to the
// socket (other frames go on to the stack: ARP, the stats service), and
// the program answers each from its own UMEM frame, swapping Ethernet
// and IP addresses and ports (as the kernel's xdpsock does in l2fwd
// mode), through the TX ring.
//
//	kaidoku run -fwd 10007:7 ./image/xskecho
//	echo hello | nc -u -w1 127.0.0.1 10007
//
// Each frame's interrupt-to-wakeup latency (from the hard IRQ of the
// poll that received it to the reader taking it off the RX ring) goes
// into the stack's latency trace, which the stats service (UDP 161)
// reports with the stack's counters. Flags (after "--" on the kernel
// command line): -port (7), -frames (UMEM frames, 384), -zerocopy (bind
// in zero-copy mode: the device receives into the UMEM directly), -report
// (print the socket's counters this often; 0, the default: never).
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/kaidoku-net/kaidoku/board"
	"github.com/kaidoku-net/kaidoku/image/xdpprog"
	"github.com/kaidoku-net/kaidoku/unikernel"
	"github.com/kaidoku-net/kaidoku/virtio"
	"github.com/kaidoku-net/kaidoku/xsk"
)

func main() {
	sys := unikernel.Start(unikernel.Options{Name: "xskecho", Stats: true, WaitReady: true})
	port := flag.Uint("port", 7, "UDP port to echo on")
	frames := flag.Int("frames", 384, "UMEM frames (2 KiB each, in DMA memory; more than the 256 the receive ring holds, so that the fill ring stays stocked)")
	zerocopy := flag.Bool("zerocopy", false, "bind in zero-copy mode (XDP_ZEROCOPY): the device receives into the UMEM")
	report := flag.Duration("report", 0, "print the socket's counters this often (0: never)")
	flag.Parse()
	nd := sys.Device
	n := *frames
	umem, err := xsk.NewUMEM(virtio.PoolMemory(board.DMAMemory{}), xsk.UMEMConfig{Frames: n,
		FillSize: pow2Floor(uint32(n)), CompletionSize: pow2Floor(uint32(n))})
	if err != nil {
		fatal(err)
	}
	s, err := xsk.New(umem, xsk.Config{RxSize: pow2Floor(uint32(n)), TxSize: pow2Floor(uint32(n)),
		Ifindex: nd.Ifindex(), Link: nd.Net, TxPool: nd.Frames, NeedWakeup: true, ZeroCopy: *zerocopy})
	if err != nil {
		fatal(err)
	}
	e := newEcho(s, board.Nanotime, sys.Stack.Latency())
	nd.Net.SetXDP(xdpprog.RedirectUDP(uint16(*port), s))
	mode := "copy"
	if s.ZeroCopy() {
		mode = "zero-copy"
	}
	fmt.Printf("xskecho: AF_XDP echo on UDP port %d, %s mode, %d UMEM frames\n", *port, mode, n)
	if *report > 0 {
		go func() {
			for range time.Tick(*report) {
				st := s.Stats()
				fmt.Printf("XSK rx_packets=%d rx_zerocopy=%d tx_packets=%d rx_dropped=%d rx_ring_full=%d rx_fill_ring_empty_descs=%d rx_invalid_descs=%d tx_invalid_descs=%d tx_ring_empty_descs=%d fill_invalid_descs=%d wakeups=%d\n",
					st.RxPackets, st.RxZeroCopy, st.TxPackets, st.RxDropped, st.RxRingFull, st.RxFillRingEmptyDescs, st.RxInvalidDescs,
					st.TxInvalidDescs, st.TxRingEmptyDescs, st.FillInvalidDescs, st.Wakeups)
			}
		}()
	}
	unikernel.Ready()
	e.run()
}

// pow2Floor is the largest power of two not above n (at least 1).
func pow2Floor(n uint32) uint32 {
	p := uint32(1)
	for p*2 <= n && p*2 != 0 {
		p *= 2
	}
	return p
}

func fatal(err error) {
	fmt.Println("xskecho:", err)
	os.Exit(1)
}
