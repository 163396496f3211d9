//go:build linux

package main

// The test agent of the Linux guest: the protocol of package
// image/agent/agentproto served with real Linux system calls, so that
// the host's conformance cases run unchanged against Linux and against
// the kaidoku image. Each request is served in a goroutine of its own;
// a blocking call (recvmsg, poll) runs on an OS thread of its own, which
// OpInterrupt signals, as the kaidoku agent's Interrupt stands in for a
// signal. The kaidoku agent's reliability operations (background
// readers and senders, sockstat, gc) are not served: they answer EINVAL
// as any unknown operation.

import (
	"bufio"
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/kaidoku-net/kaidoku/image/agent/agentproto"
)

// agentMaxRecv bounds the receive buffer a request may ask for, as in
// the kaidoku agent.
const agentMaxRecv = 65536

// agentMaxControl bounds a recvmsg's control buffer, as in the kaidoku
// agent.
const agentMaxControl = 4096

// interruptSignal is the signal OpInterrupt sends a thread blocked in a
// socket call. Its handler is installed without SA_RESTART (see
// setupInterrupt), so the call returns EINTR instead of restarting.
const interruptSignal = unix.SIGUSR1

// saRestart is SA_RESTART, which x/sys/unix does not list.
const saRestart = 0x10000000

// agentServer is the agent's state: the sockets it created and the
// threads blocked in them.
type agentServer struct {
	allow netip.Prefix

	mu sync.Mutex
	// +checklocks:mu
	fds map[int]bool
	// +checklocks:mu
	blocked map[int]map[*blockedCall]bool // by fd

	sendMu                   sync.Mutex
	refused, served, badReqs atomic.Uint64
}

// blockedCall is one thread in a blocking socket call.
type blockedCall struct {
	tid int
}

func newAgent(allow netip.Prefix) *agentServer {
	return &agentServer{allow: allow, fds: map[int]bool{}, blocked: map[int]map[*blockedCall]bool{}}
}

// setupInterrupt makes interruptSignal interrupt system calls: the Go
// runtime installs every handler with SA_RESTART, under which a blocking
// recvmsg without a timeout restarts; with the flag cleared it returns
// EINTR (signal(7)), as after a C handler installed without SA_RESTART.
// The signal is only ever sent to a thread blocked in an agent call.
func setupInterrupt() error {
	signal.Notify(make(chan os.Signal, 1), interruptSignal)
	// struct sigaction as the kernel takes it (rt_sigaction on x86_64).
	var act struct {
		handler  uintptr
		flags    uint64
		restorer uintptr
		mask     uint64
	}
	if _, _, e := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(interruptSignal), 0, uintptr(unsafe.Pointer(&act)), 8, 0, 0); e != 0 {
		return fmt.Errorf("rt_sigaction: %v", e)
	}
	act.flags &^= saRestart
	if _, _, e := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(interruptSignal), uintptr(unsafe.Pointer(&act)), 0, 8, 0, 0); e != 0 {
		return fmt.Errorf("rt_sigaction: %v", e)
	}
	return nil
}

// serve answers requests arriving on fd, a blocking UDP socket,
// from sources allow admits; it does not return.
func (s *agentServer) serve(fd int) {
	runtime.LockOSThread()
	buf := make([]byte, agentproto.MaxDatagram)
	for {
		n, from, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			continue
		}
		sa, ok := from.(*unix.SockaddrInet4)
		if !ok {
			continue
		}
		if !agentproto.Allowed(s.allow, netip.AddrFrom4(sa.Addr)) {
			s.refused.Add(1)
			continue
		}
		req, err := agentproto.DecodeRequest(buf[:n])
		if err != nil {
			s.badReqs.Add(1)
			continue
		}
		go func() {
			resp := s.handle(req)
			b, err := agentproto.EncodeResponse(resp)
			if err != nil {
				e := &agentproto.Response{ID: req.ID}
				agentproto.ErrorResponse(e, fmt.Errorf("%w: %v", syscall.EMSGSIZE, err))
				b, _ = agentproto.EncodeResponse(e)
			}
			s.sendMu.Lock()
			unix.Sendto(fd, b, 0, sa)
			s.sendMu.Unlock()
			s.served.Add(1)
		}()
	}
}

// handle performs one request and returns its response.
func (s *agentServer) handle(req *agentproto.Request) *agentproto.Response {
	r := &agentproto.Response{ID: req.ID}
	if err := s.do(req, r); err != nil {
		agentproto.ErrorResponse(r, err)
	}
	return r
}

func parseSockaddr(s string) (*unix.SockaddrInet4, error) {
	ap, err := netip.ParseAddrPort(s)
	if err != nil || !ap.Addr().Is4() {
		return nil, fmt.Errorf("%w: bad address %q", syscall.EINVAL, s)
	}
	return &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}, nil
}

// rawSockaddr is struct sockaddr_in for the calls made directly.
func rawSockaddr(family uint16, sa *unix.SockaddrInet4) unix.RawSockaddrInet4 {
	raw := unix.RawSockaddrInet4{Family: family}
	if sa != nil {
		raw.Port = uint16(sa.Port>>8) | uint16(sa.Port&0xff)<<8
		raw.Addr = sa.Addr
	}
	return raw
}

func errnoErr(e syscall.Errno) error {
	if e != 0 {
		return e
	}
	return nil
}

func (s *agentServer) do(req *agentproto.Request, r *agentproto.Response) error {
	if handled, err := s.doPacket(req, r); handled {
		return err
	}
	switch req.Op {
	case agentproto.OpSocket:
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		s.mu.Lock()
		s.fds[fd] = true
		s.mu.Unlock()
		r.FD = fd
		return nil
	case agentproto.OpCounters:
		return readCounters(req.Names, r)
	case agentproto.OpProcNetUDP:
		b, err := os.ReadFile("/proc/net/udp")
		r.Text = string(b)
		return err
	case agentproto.OpClock:
		var ts unix.Timespec
		err := unix.ClockGettime(unix.CLOCK_REALTIME, &ts)
		r.Nsec = ts.Nano()
		return err
	}
	s.mu.Lock()
	known := s.fds[req.FD]
	s.mu.Unlock()
	if !known {
		// Only the agent's own sockets: never its service sockets.
		return syscall.EBADF
	}
	fd := req.FD
	switch req.Op {
	case agentproto.OpBind:
		sa, err := parseSockaddr(req.Addr)
		if err != nil {
			return err
		}
		return unix.Bind(fd, sa)
	case agentproto.OpConnect:
		// Raw, for AF_UNSPEC: the disconnect.
		raw := rawSockaddr(unix.AF_UNSPEC, nil)
		if !req.Unspec {
			sa, err := parseSockaddr(req.Addr)
			if err != nil {
				return err
			}
			raw = rawSockaddr(unix.AF_INET, sa)
		}
		_, _, e := unix.Syscall(unix.SYS_CONNECT, uintptr(fd), uintptr(unsafe.Pointer(&raw)), unix.SizeofSockaddrInet4)
		return errnoErr(e)
	case agentproto.OpSetInt:
		return unix.SetsockoptInt(fd, req.Level, req.Name, req.Value)
	case agentproto.OpGetInt:
		if req.Level == unix.SOL_SOCKET && req.Name == unix.SO_BINDTODEVICE {
			// The protocol reads the bound device as its index, as
			// the kaidoku agent does; Linux returns its name.
			name, err := unix.GetsockoptString(fd, req.Level, req.Name)
			if err != nil || name == "" {
				return err
			}
			r.Value, err = ifindex(name)
			return err
		}
		v, err := unix.GetsockoptInt(fd, req.Level, req.Name)
		r.Value = v
		return err
	case agentproto.OpSetTimeval:
		return unix.SetsockoptTimeval(fd, req.Level, req.Name, &unix.Timeval{Sec: req.Sec, Usec: req.Usec})
	case agentproto.OpGetTimeval:
		tv, err := unix.GetsockoptTimeval(fd, req.Level, req.Name)
		if err == nil {
			r.Sec, r.Usec = tv.Sec, tv.Usec
		}
		return err
	case agentproto.OpSetString:
		return unix.SetsockoptString(fd, req.Level, req.Name, req.Str)
	case agentproto.OpMembership:
		m := &unix.IPMreqn{Ifindex: int32(req.Ifindex)}
		g, err := netip.ParseAddr(req.Group)
		if err != nil || !g.Is4() {
			return fmt.Errorf("%w: bad group %q", syscall.EINVAL, req.Group)
		}
		m.Multiaddr = g.As4()
		if req.Iface != "" {
			a, err := netip.ParseAddr(req.Iface)
			if err != nil || !a.Is4() {
				return fmt.Errorf("%w: bad interface address %q", syscall.EINVAL, req.Iface)
			}
			m.Address = a.As4()
		}
		return unix.SetsockoptIPMreqn(fd, unix.SOL_IP, req.Name, m)
	case agentproto.OpRecv:
		return s.recvmsg(fd, req, r)
	case agentproto.OpSend:
		var raw unix.RawSockaddrInet4
		var to, tolen uintptr
		if req.Addr != "" {
			sa, err := parseSockaddr(req.Addr)
			if err != nil {
				return err
			}
			raw = rawSockaddr(unix.AF_INET, sa)
			to, tolen = uintptr(unsafe.Pointer(&raw)), unix.SizeofSockaddrInet4
		}
		var p unsafe.Pointer
		if len(req.Data) > 0 {
			p = unsafe.Pointer(&req.Data[0])
		}
		n, _, e := unix.Syscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(p), uintptr(len(req.Data)), uintptr(req.Flags), to, tolen)
		r.Ret = int(n)
		return errnoErr(e)
	case agentproto.OpClose:
		s.mu.Lock()
		delete(s.fds, fd)
		s.mu.Unlock()
		return unix.Close(fd)
	case agentproto.OpShutdown:
		return unix.Shutdown(fd, req.How)
	case agentproto.OpIoctl:
		// Only the queue-size requests: the agent does not configure
		// interfaces on a client's behalf.
		if req.Name != unix.SIOCINQ && req.Name != unix.SIOCOUTQ {
			return syscall.ENOTTY
		}
		v, err := unix.IoctlGetInt(fd, uint(req.Name))
		r.Value = v
		return err
	case agentproto.OpPoll:
		return s.blocking(fd, func() error {
			pfd := []unix.PollFd{{Fd: int32(fd), Events: int16(req.Events)}}
			timeout := req.TimeoutMs
			if timeout < 0 {
				timeout = -1
			}
			_, err := unix.Poll(pfd, timeout)
			r.Value = int(uint16(pfd[0].Revents))
			return err
		})
	case agentproto.OpNonblock:
		return unix.SetNonblock(fd, req.Value != 0)
	case agentproto.OpInterrupt:
		s.interrupt(fd)
		return nil
	case agentproto.OpRecvmmsg:
		return s.recvmmsgCall(fd, req, r)
	case agentproto.OpSendmmsg:
		return s.sendmmsgCall(fd, req, r)
	case agentproto.OpHwtstamp:
		return hwtstamp(fd, req)
	case agentproto.OpGetStamp:
		return getStamp(fd, req, r)
	}
	return fmt.Errorf("%w: unknown op %q", syscall.EINVAL, req.Op)
}

// recvmsg is recvmsg(2) with msg_name, msg_namelen, msg_flags and the
// control messages the protocol reports (IP_PKTINFO, SO_RXQ_OVFL)
// returned as the kernel wrote them.
func (s *agentServer) recvmsg(fd int, req *agentproto.Request, r *agentproto.Response) error {
	var name unix.RawSockaddrInet4
	cmsgs, err := s.rawRecvmsg(fd, req, unsafe.Pointer(&name), unix.SizeofSockaddrInet4, r)
	if err != nil {
		return err
	}
	if r.Namelen > 0 && name.Family == unix.AF_INET {
		port := name.Port>>8 | name.Port<<8
		r.From = netip.AddrPortFrom(netip.AddrFrom4(name.Addr), port).String()
	}
	for _, c := range cmsgs {
		switch {
		case c.Header.Level == unix.SOL_SOCKET && c.Header.Type == unix.SO_RXQ_OVFL && len(c.Data) >= 4:
			v := *(*uint32)(unsafe.Pointer(&c.Data[0]))
			r.RxqOvfl = &v
		case c.Header.Level == unix.SOL_IP && c.Header.Type == unix.IP_PKTINFO && len(c.Data) >= unix.SizeofInet4Pktinfo:
			pi := (*unix.Inet4Pktinfo)(unsafe.Pointer(&c.Data[0]))
			r.Pktinfo = &agentproto.Pktinfo{
				Ifindex: int(pi.Ifindex),
				SpecDst: netip.AddrFrom4(pi.Spec_dst).String(),
				Addr:    netip.AddrFrom4(pi.Addr).String(),
			}
		}
	}
	return nil
}

// rawRecvmsg is recvmsg(2) on fd with one iovec of req.Len bytes, the
// source address written to name (namelen bytes of room) and req's
// control buffer; it fills r's Ret, Data, Namelen, MsgFlags and, when
// req.Controllen asked for it, Control, and returns the control messages
// parsed.
func (s *agentServer) rawRecvmsg(fd int, req *agentproto.Request, name unsafe.Pointer, namelen uint32, r *agentproto.Response) ([]unix.SocketControlMessage, error) {
	if req.Len < 0 || req.Len > agentMaxRecv {
		return nil, fmt.Errorf("%w: len %d", syscall.EINVAL, req.Len)
	}
	buf := make([]byte, req.Len+1) // +1: a valid base for a 0-byte read
	oob := make([]byte, 256)
	if req.Controllen > 0 {
		// msg_controllen as asked: the control data comes back as the
		// kernel wrote it, MSG_CTRUNC included.
		oob = make([]byte, min(req.Controllen, agentMaxControl))
	}
	iov := unix.Iovec{Base: &buf[0]}
	iov.SetLen(req.Len)
	msg := unix.Msghdr{
		Name:    (*byte)(name),
		Namelen: namelen,
		Iov:     &iov,
		Iovlen:  1,
		Control: &oob[0],
	}
	msg.SetControllen(len(oob))
	var n uintptr
	err := s.blocking(fd, func() error {
		var e syscall.Errno
		n, _, e = unix.Syscall(unix.SYS_RECVMSG, uintptr(fd), uintptr(unsafe.Pointer(&msg)), uintptr(req.Flags))
		return errnoErr(e)
	})
	if err != nil {
		return nil, err
	}
	r.Ret = int(n)
	r.Data = buf[:min(int(n), req.Len)]
	r.Namelen = int(msg.Namelen)
	r.MsgFlags = int(msg.Flags)
	if req.Controllen > 0 {
		r.Control = oob[:msg.Controllen]
	}
	cmsgs, err := unix.ParseSocketControlMessage(oob[:msg.Controllen])
	if err != nil {
		return nil, fmt.Errorf("%w: control messages: %v", syscall.EINVAL, err)
	}
	return cmsgs, nil
}

// blocking runs call, which may block in a system call on fd, on an OS
// thread of its own, registered for interrupt while it runs.
func (s *agentServer) blocking(fd int, call func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	c := &blockedCall{tid: unix.Gettid()}
	s.mu.Lock()
	if s.blocked[fd] == nil {
		s.blocked[fd] = map[*blockedCall]bool{}
	}
	s.blocked[fd][c] = true
	s.mu.Unlock()
	err := call()
	s.mu.Lock()
	delete(s.blocked[fd], c)
	s.mu.Unlock()
	return err
}

// interrupt signals the threads blocked in calls on fd. The signal is
// sent under s.mu, which a call takes to unregister, so it is pending
// before its thread can leave the call: it never reaches a later call.
// One that lands just before its thread enters the kernel is handled in
// user space and the call still blocks, so it is repeated, a bounded
// number of times, while those same calls are under way.
func (s *agentServer) interrupt(fd int) {
	pid := unix.Getpid()
	s.mu.Lock()
	var calls []*blockedCall
	for c := range s.blocked[fd] {
		calls = append(calls, c)
	}
	s.mu.Unlock()
	for try := 0; try < 20 && len(calls) > 0; try++ {
		s.mu.Lock()
		left := calls[:0]
		for _, c := range calls {
			if s.blocked[fd][c] {
				unix.Tgkill(pid, c.tid, interruptSignal)
				left = append(left, c)
			}
		}
		s.mu.Unlock()
		calls = left
		time.Sleep(10 * time.Millisecond)
	}
}

// ifindex is if_nametoindex(3).
func ifindex(name string) (int, error) {
	b, err := os.ReadFile("/sys/class/net/" + name + "/ifindex")
	if err != nil {
		return 0, syscall.ENODEV
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

// readCounters answers OpCounters from /proc/net/snmp and
// /proc/net/netstat ("Udp.NoPorts", "IpExt.InBcastPkts"): the names the
// kaidoku image's MIB uses, which are Linux's.
func readCounters(names []string, r *agentproto.Response) error {
	all := map[string]uint64{}
	for _, f := range []string{"/proc/net/snmp", "/proc/net/netstat"} {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		parseProcNet(b, all)
	}
	r.Counters = map[string]uint64{}
	for _, n := range names {
		v, ok := all[n]
		if !ok {
			return fmt.Errorf("%w: unknown counter %q", syscall.EINVAL, n)
		}
		r.Counters[n] = v
	}
	return nil
}

// parseProcNet reads the header/value line pairs of /proc/net/snmp and
// /proc/net/netstat into m as "Proto.Field". Values are unsigned, except
// Tcp's MaxConn (-1), which is stored as its two's complement.
func parseProcNet(b []byte, m map[string]uint64) {
	var header []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || !strings.HasSuffix(f[0], ":") {
			continue
		}
		if header == nil || header[0] != f[0] {
			header = f
			continue
		}
		proto := strings.TrimSuffix(f[0], ":")
		for i := 1; i < len(f) && i < len(header); i++ {
			v, err := strconv.ParseUint(f[i], 10, 64)
			if err != nil {
				n, err2 := strconv.ParseInt(f[i], 10, 64)
				if err2 != nil {
					continue
				}
				v = uint64(n)
			}
			m[proto+"."+header[i]] = v
		}
		header = nil
	}
}

// hwtstamp is OpHwtstamp: SIOCGHWTSTAMP or SIOCSHWTSTAMP on the
// interface req.Str. Only these two: the agent configures nothing else.
func hwtstamp(fd int, req *agentproto.Request) error {
	switch req.Name {
	case unix.SIOCGHWTSTAMP:
		_, err := unix.IoctlGetHwTstamp(fd, req.Str)
		return err
	case unix.SIOCSHWTSTAMP:
		cfg := unix.HwTstampConfig{Flags: int32(req.HwtstampFlags), Tx_type: int32(req.Value), Rx_filter: int32(req.How)}
		return unix.IoctlSetHwTstamp(fd, req.Str, &cfg)
	}
	return syscall.ENOTTY
}

// getStamp is OpGetStamp: ioctl SIOCGSTAMP (a timeval) or SIOCGSTAMPNS
// (a timespec), the only two it makes.
func getStamp(fd int, req *agentproto.Request, r *agentproto.Response) error {
	if req.Name != unix.SIOCGSTAMP && req.Name != unix.SIOCGSTAMPNS {
		return syscall.ENOTTY
	}
	var ts [2]int64 // struct timeval or struct timespec on x86_64
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), uintptr(req.Name), uintptr(unsafe.Pointer(&ts)))
	if e != 0 {
		return e
	}
	r.Sec = ts[0]
	if req.Name == unix.SIOCGSTAMPNS {
		r.Nsec = ts[1]
	} else {
		r.Usec = ts[1]
	}
	return nil
}
