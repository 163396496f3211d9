package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/kaidoku-net/kaidoku/image/capture/captureproto"
)

// captureCmd streams a running image's frames, taken by a packet socket
// in the image (its capture service), into a pcap file.
func captureCmd(args []string) error {
	fs := flag.NewFlagSet("capture", flag.ExitOnError)
	out := fs.String("w", "-", `the pcap file to write; "-": standard output (e.g. | tcpdump -r -)`)
	typ := fs.String("type", "", "only frames of this EtherType: a number (0x0800) or ip, arp, ip6, vlan")
	count := fs.Int("c", 0, "stop after this many frames (0: until Ctrl-C)")
	snaplen := fs.Int("s", captureproto.DefaultSnaplen, "keep at most this many bytes of each frame")
	iface := fs.String("i", "", "the interface: eth0 (the default), lo, or any")
	dur := fs.Duration("d", 0, "stop after this long (0: no limit)")
	addr := fs.String("addr", "127.0.0.1:12002", "the image's capture service (kaidoku run forwards it here)")
	timeout := fs.Duration("timeout", 3*time.Second, "how long to wait for the image to answer")
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintln(w, "usage: kaidoku capture [-w FILE|-] [-type ETHERTYPE] [-c COUNT] [flags]")
		fmt.Fprintln(w, "\nWrites the frames a running image receives and sends as a pcap file that")
		fmt.Fprintln(w, "tcpdump -r and Wireshark read. The image's capture service leaves its own")
		fmt.Fprintln(w, "stream out (as tcpdump's `not udp port 2002`). Ctrl-C ends the capture.")
		fs.PrintDefaults()
	}
	fs.Parse(args)
	if fs.NArg() != 0 {
		fs.Usage()
		return fmt.Errorf("capture takes no arguments, got %q", fs.Args())
	}
	req := captureproto.Request{Count: *count, Snaplen: *snaplen, Iface: *iface}
	if *typ != "" {
		t, err := captureproto.ParseEtherType(*typ)
		if err != nil {
			return err
		}
		req.EtherType = t
	}
	if *count < 0 || *snaplen <= 0 || *snaplen > captureproto.DefaultSnaplen {
		return fmt.Errorf("want -c ≥ 0 and -s from 1 to %d", captureproto.DefaultSnaplen)
	}
	var w io.Writer = os.Stdout
	if *out != "-" {
		f, err := os.Create(*out)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	c, err := net.Dial("udp", *addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if uc, ok := c.(*net.UDPConn); ok {
		uc.SetReadBuffer(4 << 20)
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(stop)
	sum, err := runCapture(c, req, w, stop, *dur, *timeout)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "%d packets captured\n%d packets dropped by the image's packet socket\n", sum.written, sum.dropped)
	if sum.lost > 0 || sum.cut > 0 || sum.sendErrors > 0 {
		fmt.Fprintf(os.Stderr, "%d stream datagrams lost (%d of them never sent by the image), %d packets cut by the loss\n",
			sum.lost, sum.sendErrors, sum.cut)
	}
	if !sum.ended {
		fmt.Fprintln(os.Stderr, "kaidoku: the image did not confirm the end of the capture; the file holds what arrived")
	}
	return nil
}

type captureSummary struct {
	written, dropped, lost, cut, sendErrors uint64
	ended                                   bool
}

// runCapture asks the service on c for req's frames and writes them to
// w as a pcap file until the service ends the capture (count reached),
// a signal arrives on stop, or dur passes.
func runCapture(c net.Conn, req captureproto.Request, w io.Writer, stop <-chan os.Signal, dur, timeout time.Duration) (captureSummary, error) {
	var sum captureSummary
	bw := bufio.NewWriter(w)
	snaplen := req.Snaplen
	if snaplen == 0 {
		snaplen = captureproto.DefaultSnaplen
	}
	buf := make([]byte, 65536)
	// Start, until the Ack (or a refusal) comes back.
	deadline := time.Now().Add(timeout)
	for acked := false; !acked; {
		if time.Now().After(deadline) {
			return sum, fmt.Errorf("no answer from the capture service at %s within %v (is the image running, e.g. make run?)", c.RemoteAddr(), timeout)
		}
		if _, err := c.Write([]byte(req.String())); err != nil {
			return sum, err
		}
		c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		for {
			n, err := c.Read(buf)
			if err != nil {
				break
			}
			h, p, err := captureproto.ParseHeader(buf[:n])
			if err != nil {
				continue
			}
			if h.Kind == captureproto.KindErr {
				return sum, fmt.Errorf("the capture service refused: %s", p)
			}
			if h.Kind == captureproto.KindAck {
				fmt.Fprintf(os.Stderr, "kaidoku: capturing (%s)\n", p)
				acked = true
				break
			}
		}
	}
	if _, err := bw.Write(captureproto.FileHeader(snaplen)); err != nil {
		return sum, err
	}
	bw.Flush()
	var r captureproto.Reassembler
	var end <-chan time.Time
	if dur > 0 {
		end = time.After(dur)
	}
	keep := time.NewTicker(captureproto.KeepInterval)
	defer keep.Stop()
	var stopping time.Time
	for {
		select {
		case <-stop:
			if stopping.IsZero() {
				c.Write([]byte("stop"))
				stopping = time.Now()
			}
		case <-end:
			if stopping.IsZero() {
				c.Write([]byte("stop"))
				stopping = time.Now()
			}
		case <-keep.C:
			if stopping.IsZero() {
				c.Write([]byte("keep"))
			}
		default:
		}
		if !stopping.IsZero() && time.Since(stopping) > timeout {
			return sum, bw.Flush()
		}
		c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		n, err := c.Read(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			// An ICMP port unreachable: the image is gone.
			bw.Flush()
			return sum, fmt.Errorf("capture service at %s: %w", c.RemoteAddr(), err)
		}
		h, p, err := captureproto.ParseHeader(buf[:n])
		if err != nil {
			continue
		}
		switch h.Kind {
		case captureproto.KindData:
			for _, rec := range r.Add(h, p) {
				if _, err := bw.Write(rec); err != nil {
					return sum, err
				}
				sum.written++
			}
			if err := bw.Flush(); err != nil {
				return sum, err
			}
		case captureproto.KindEnd:
			s, err := captureproto.ParseSummary(string(p))
			if err != nil {
				continue
			}
			r.Finish(s.Datagrams)
			sum.dropped, sum.sendErrors, sum.ended = s.Dropped, s.SendErrors, true
			sum.lost, sum.cut = r.Lost, r.Cut
			return sum, bw.Flush()
		}
	}
}
