// Command netapi exercises the standard library's UDP API as a program
// written for Linux uses it, against a UDP echo server at the address
// given as its argument: net.DialUDP, net.ListenPacket("udp4"),
// net.ListenUDP, ReadFrom/WriteTo, ReadFromUDPAddrPort/WriteToUDPAddrPort,
// ReadMsgUDP/WriteMsgUDP, deadlines, SetReadBuffer, and Close unblocking
// a reader with net.ErrClosed. It prints one line per check, "NETAPI ok
// <name>" or "NETAPI FAIL <name>: <why>", then "NETAPI done <failures>".
//
// On package unikernel it runs in the image (the end-to-end test boots it
// with `-- 10.0.2.2:<port>`, QEMU's user-mode networking reaching the
// host's 127.0.0.1); built for Linux it runs the same checks on the
// kernel's sockets (`netapi 127.0.0.1:<port>`), which is how the test
// knows the checks themselves are right.
package main

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"

	"github.com/kaidoku-net/kaidoku/unikernel"
)

// msgTrunc is Linux's MSG_TRUNC, which tamago's syscall package lacks.
const msgTrunc = 0x20

// wait bounds every read that expects a reply.
const wait = 5 * time.Second

var peer netip.AddrPort

func main() {
	unikernel.Start(unikernel.Options{Name: "netapi"})
	if len(os.Args) != 2 {
		fmt.Println("usage: netapi ECHO-HOST:PORT")
		os.Exit(2)
	}
	var err error
	if peer, err = netip.ParseAddrPort(os.Args[1]); err != nil {
		fmt.Println("netapi:", err)
		os.Exit(2)
	}
	failures := 0
	for _, c := range checks {
		if err := run(c.run); err != nil {
			failures++
			fmt.Printf("NETAPI FAIL %s: %v\n", c.name, err)
		} else {
			fmt.Printf("NETAPI ok %s\n", c.name)
		}
	}
	fmt.Printf("NETAPI done %d\n", failures)
}

// run runs one check, turning a panic into its failure.
func run(check func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return check()
}

var checks = []struct {
	name string
	run  func() error
}{
	{"DialUDP Write Read", func() error {
		c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(peer))
		if err != nil {
			return err
		}
		defer c.Close()
		if _, err := c.Write([]byte("dial")); err != nil {
			return err
		}
		buf := make([]byte, 64)
		c.SetReadDeadline(time.Now().Add(wait))
		n, err := c.Read(buf)
		if err != nil {
			return err
		}
		if string(buf[:n]) != "dial" {
			return fmt.Errorf("read %q", buf[:n])
		}
		if ra := c.RemoteAddr().(*net.UDPAddr).AddrPort(); ra != peer {
			return fmt.Errorf("RemoteAddr %v, want %v", ra, peer)
		}
		return nil
	}},
	{"LocalAddr of a dialled socket", func() error {
		c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(peer))
		if err != nil {
			return err
		}
		defer c.Close()
		la, ok := c.LocalAddr().(*net.UDPAddr)
		if !ok || la.Port == 0 || la.IP.IsUnspecified() {
			return fmt.Errorf("LocalAddr %T %v: want the *net.UDPAddr with the address and port chosen", c.LocalAddr(), c.LocalAddr())
		}
		return nil
	}},
	{"LocalAddr of a socket bound to port 0", func() error {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{})
		if err != nil {
			return err
		}
		defer c.Close()
		if la, ok := c.LocalAddr().(*net.UDPAddr); !ok || la.Port == 0 {
			return fmt.Errorf("LocalAddr %T %v: want the *net.UDPAddr with the port chosen", c.LocalAddr(), c.LocalAddr())
		}
		return nil
	}},
	{"ListenPacket udp4 WriteTo ReadFrom", func() error {
		c, err := net.ListenPacket("udp4", ":0")
		if err != nil {
			return err
		}
		defer c.Close()
		if _, err := c.WriteTo([]byte("packet"), net.UDPAddrFromAddrPort(peer)); err != nil {
			return err
		}
		buf := make([]byte, 64)
		c.SetReadDeadline(time.Now().Add(wait))
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			return err
		}
		if string(buf[:n]) != "packet" {
			return fmt.Errorf("read %q", buf[:n])
		}
		if fa := from.(*net.UDPAddr).AddrPort(); fa != peer {
			return fmt.Errorf("from %v, want %v", fa, peer)
		}
		return nil
	}},
	{"ListenUDP WriteToUDPAddrPort ReadFromUDPAddrPort", func() error {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{})
		if err != nil {
			return err
		}
		defer c.Close()
		if _, err := c.WriteToUDPAddrPort([]byte("addrport"), peer); err != nil {
			return err
		}
		buf := make([]byte, 64)
		c.SetReadDeadline(time.Now().Add(wait))
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			return err
		}
		if string(buf[:n]) != "addrport" || from != peer {
			return fmt.Errorf("read %q from %v", buf[:n], from)
		}
		return nil
	}},
	{"WriteMsgUDP ReadMsgUDP", func() error {
		c, err := net.ListenUDP("udp4", nil)
		if err != nil {
			return err
		}
		defer c.Close()
		n, oobn, err := c.WriteMsgUDP([]byte("msg"), nil, net.UDPAddrFromAddrPort(peer))
		if err != nil || n != 3 || oobn != 0 {
			return fmt.Errorf("WriteMsgUDP: %d, %d, %v", n, oobn, err)
		}
		buf := make([]byte, 64)
		c.SetReadDeadline(time.Now().Add(wait))
		n, _, flags, from, err := c.ReadMsgUDP(buf, nil)
		if err != nil {
			return err
		}
		if string(buf[:n]) != "msg" || from.AddrPort() != peer || flags != 0 {
			return fmt.Errorf("ReadMsgUDP %q from %v flags %#x", buf[:n], from, flags)
		}
		return nil
	}},
	{"ReadMsgUDP truncation sets MSG_TRUNC", func() error {
		c, err := net.ListenUDP("udp4", nil)
		if err != nil {
			return err
		}
		defer c.Close()
		if _, err := c.WriteToUDPAddrPort([]byte("0123456789"), peer); err != nil {
			return err
		}
		buf := make([]byte, 4)
		c.SetReadDeadline(time.Now().Add(wait))
		n, _, flags, _, err := c.ReadMsgUDP(buf, nil)
		if err != nil {
			return err
		}
		if n != 4 || string(buf) != "0123" || flags&msgTrunc == 0 {
			return fmt.Errorf("read %d bytes %q flags %#x, want 4 bytes \"0123\" with MSG_TRUNC", n, buf[:n], flags)
		}
		return nil
	}},
	{"WriteTo on a connected socket fails", func() error {
		c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(peer))
		if err != nil {
			return err
		}
		defer c.Close()
		if _, err := c.WriteTo([]byte("x"), net.UDPAddrFromAddrPort(peer)); !errors.Is(err, net.ErrWriteToConnected) {
			return fmt.Errorf("WriteTo: %v, want net.ErrWriteToConnected", err)
		}
		return nil
	}},
	{"SetReadDeadline times a read out", func() error {
		c, err := net.ListenUDP("udp4", nil)
		if err != nil {
			return err
		}
		defer c.Close()
		start := time.Now()
		c.SetReadDeadline(start.Add(200 * time.Millisecond))
		_, _, err = c.ReadFromUDP(make([]byte, 64))
		took := time.Since(start)
		var ne net.Error
		if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() {
			return fmt.Errorf("read: %v, want a timeout (os.ErrDeadlineExceeded)", err)
		}
		if took < 200*time.Millisecond || took > 3*time.Second {
			return fmt.Errorf("the 200 ms deadline expired after %v", took)
		}
		return nil
	}},
	{"a deadline in the past fails at once, and a cleared one no longer", func() error {
		c, err := net.ListenUDP("udp4", nil)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(-time.Second))
		if _, _, err := c.ReadFromUDP(make([]byte, 64)); !errors.Is(err, os.ErrDeadlineExceeded) {
			return fmt.Errorf("read past the deadline: %v", err)
		}
		if _, err := c.WriteToUDPAddrPort([]byte("late"), peer); !errors.Is(err, os.ErrDeadlineExceeded) {
			return fmt.Errorf("write past the deadline: %v", err)
		}
		c.SetDeadline(time.Time{})
		if _, err := c.WriteToUDPAddrPort([]byte("cleared"), peer); err != nil {
			return fmt.Errorf("write after clearing the deadline: %v", err)
		}
		c.SetReadDeadline(time.Now().Add(wait))
		buf := make([]byte, 64)
		n, _, err := c.ReadFromUDP(buf)
		if err != nil || string(buf[:n]) != "cleared" {
			return fmt.Errorf("read after clearing the deadline: %q, %v", buf[:n], err)
		}
		return nil
	}},
	{"SetReadBuffer SetWriteBuffer", func() error {
		c, err := net.ListenUDP("udp4", nil)
		if err != nil {
			return err
		}
		defer c.Close()
		if err := c.SetReadBuffer(1 << 20); err != nil {
			return fmt.Errorf("SetReadBuffer: %v", err)
		}
		if err := c.SetWriteBuffer(1 << 20); err != nil {
			return fmt.Errorf("SetWriteBuffer: %v", err)
		}
		return nil
	}},
	{"Close unblocks a reader with net.ErrClosed", func() error {
		c, err := net.ListenUDP("udp4", nil)
		if err != nil {
			return err
		}
		done := make(chan error, 1)
		go func() {
			_, _, err := c.ReadFromUDP(make([]byte, 64))
			done <- err
		}()
		time.Sleep(100 * time.Millisecond)
		if err := c.Close(); err != nil {
			return fmt.Errorf("Close: %v", err)
		}
		select {
		case err := <-done:
			if !errors.Is(err, net.ErrClosed) {
				return fmt.Errorf("reader returned %v, want net.ErrClosed", err)
			}
		case <-time.After(3 * time.Second):
			return errors.New("the reader is still blocked 3 s after Close")
		}
		if _, err := c.WriteToUDPAddrPort([]byte("x"), peer); !errors.Is(err, net.ErrClosed) {
			return fmt.Errorf("write after Close: %v, want net.ErrClosed", err)
		}
		return nil
	}},
	{"a port in use is refused", func() error {
		// A fixed port: the address LocalAddr reports is checked apart.
		a, err := net.ListenUDP("udp4", &net.UDPAddr{Port: 40123})
		if err != nil {
			return err
		}
		defer a.Close()
		b, err := net.ListenUDP("udp4", &net.UDPAddr{Port: 40123})
		if err == nil {
			b.Close()
			return fmt.Errorf("a second bind to %v succeeded", a.LocalAddr())
		}
		if !errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("second bind: %v, want EADDRINUSE", err)
		}
		return nil
	}},
	{"large datagram (fragmented both ways)", func() error {
		c, err := net.ListenUDP("udp4", nil)
		if err != nil {
			return err
		}
		defer c.Close()
		msg := bytes.Repeat([]byte("0123456789abcdef"), 4000/16)
		if _, err := c.WriteToUDPAddrPort(msg, peer); err != nil {
			return err
		}
		buf := make([]byte, 8192)
		c.SetReadDeadline(time.Now().Add(wait))
		n, _, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			return err
		}
		if !bytes.Equal(buf[:n], msg) {
			return fmt.Errorf("%d bytes back, want the %d sent", n, len(msg))
		}
		return nil
	}},
}
