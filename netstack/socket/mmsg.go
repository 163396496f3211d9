package socket

import (
	"errors"
	"net/netip"
	"os"
	"syscall"
	"time"

	"github.com/kaidoku-net/kaidoku/netstack/internal/udp"
	"github.com/kaidoku-net/kaidoku/netstack/internal/wire"
)

// Flags and limits of recvmmsg(2) and sendmmsg(2).
const (
	// MsgWaitforone makes RecvMmsg non-blocking once it has one datagram.
	MsgWaitforone = 0x10000
	// MsgBatch is sendmmsg's "more messages coming" (ignored in flags).
	MsgBatch = 0x40000
	// MsgCmsgCompat is the 32-bit compat flag; the 64-bit calls refuse it.
	MsgCmsgCompat = 0x80000000
	// UIOMaxiov caps the datagrams one SendMmsg sends (UIO_MAXIOV).
	UIOMaxiov = 1024
)

// Mmsghdr is struct mmsghdr: one datagram of RecvMmsg or SendMmsg.
type Mmsghdr struct {
	// Buf is the message's data (a single iovec): the bytes to send,
	// or the room to receive into.
	Buf []byte
	// Hdr is the rest of the message's struct msghdr. RecvMmsg fills it
	// as RecvMsg does. SendMmsg sends to Hdr.Name when Hdr.Namelen is
	// non-zero (it must then be at least SockaddrLen), else to the
	// connected peer; it sends no control data.
	Hdr Msghdr
	// Len is msg_len: the bytes received (the datagram's full length
	// with MSG_TRUNC in flags) or sent.
	Len int
}

// Timespec is struct timespec, recvmmsg's timeout.
type Timespec struct {
	Sec  int64
	Nsec int64
}

// RecvMmsg is recvmmsg(2) (net/socket.c: do_recvmmsg): a pending socket
// error is returned first (sock_error; not with MSG_ERRQUEUE); then up
// to len(msgs) datagrams are received as by RecvMsg, each entry getting
// its msg_len, name, flags (MSG_TRUNC, MSG_CTRUNC) and control data.
// MSG_WAITFORONE turns on MSG_DONTWAIT after the first. timeout, if
// non-nil, is checked only between datagrams (the wait for each is
// SO_RCVTIMEO's, as in Linux) and is updated to the time left; an
// invalid one is EINVAL. Unlike SendMmsg's, the entry count is not capped
// at UIO_MAXIOV.
//
// It returns how many datagrams it received. An error before the first
// is returned; one after it ends the batch and, unless it is EAGAIN, is
// kept as the socket's pending error (sk_err) for the next call or
// SO_ERROR. As in Linux, an interrupt (Interrupt) of a wait without
// timeout is kept as ERESTARTSYS (512), not EINTR.
func (s *Socket) RecvMmsg(msgs []Mmsghdr, flags int, timeout *Timespec) (int, error) {
	signals := s.sk.Signals()
	return s.doRecvmmsg(len(msgs), flags, timeout, func(i, f int) error {
		n, err := s.recv(msgs[i].Buf, f, &msgs[i].Hdr, false, signals)
		if err == nil {
			msgs[i].Len = n
		}
		return err
	})
}

// doRecvmmsg is do_recvmmsg over recvOne, which receives entry i with
// the flags given.
func (s *Socket) doRecvmmsg(vlen, flags int, timeout *Timespec, recvOne func(i, flags int) error) (int, error) {
	if flags&MsgCmsgCompat != 0 {
		return 0, syscall.EINVAL
	}
	clk := s.u.IP().Clock()
	var end int64
	if timeout != nil {
		// poll_select_set_timeout: a zero timeout has already expired.
		ts := *timeout
		if ts.Sec < 0 || ts.Nsec < 0 || ts.Nsec >= 1e9 {
			return 0, syscall.EINVAL
		}
		end = clk.Now()
		if ts.Sec >= (1<<63-1-end)/1e9-1 {
			end = 1<<63 - 1
		} else {
			end += ts.Sec*1e9 + ts.Nsec
		}
	}
	if !s.get() {
		return 0, syscall.EBADF
	}
	defer s.put()
	var err error
	if flags&MsgErrqueue == 0 {
		if e := s.sk.TakeError(); e != 0 {
			return 0, syscall.Errno(e)
		}
	} else if vlen == 0 {
		// Linux returns the -EBADF its descriptor lookup left in
		// err, never overwritten when no datagram is asked for.
		return 0, syscall.EBADF
	}
	datagrams := 0
	for datagrams < vlen {
		if err = recvOne(datagrams, flags&^MsgWaitforone); err != nil {
			if errors.Is(err, syscall.EINTR) && s.timeo(flags) < 0 {
				// sock_intr_errno: a signal ends a wait without
				// timeout with -ERESTARTSYS, which only the
				// return to user space turns into EINTR; kept in
				// sk_err below, it stays 512.
				err = errRestartsys
			}
			break
		}
		datagrams++
		if flags&MsgWaitforone != 0 {
			flags |= MsgDontwait
		}
		if timeout != nil {
			left := end - clk.Now()
			if left < 0 {
				*timeout = Timespec{}
				break
			}
			*timeout = Timespec{Sec: left / 1e9, Nsec: left % 1e9}
			if left == 0 {
				break
			}
		}
	}
	if err == nil || datagrams == 0 {
		if err == errRestartsys {
			err = syscall.EINTR
		}
		return datagrams, err
	}
	// Fewer than asked for: EAGAIN is merely the end of what was
	// queued; any other error is kept for the next call.
	var e syscall.Errno
	if errors.As(err, &e) && e != syscall.EAGAIN {
		s.sk.SetError(int(e))
	}
	return datagrams, nil
}

// errRestartsys is ERESTARTSYS, the kernel-internal errno of an
// interrupted wait that a call would restart.
const errRestartsys = syscall.Errno(512)

// SendMmsg is sendmmsg(2) (net/socket.c: __sys_sendmmsg): it sends the
// datagrams in msgs in order, at most UIOMaxiov of them, setting each
// entry's Len, and stops at the first error. Every datagram but the last
// goes with MSG_BATCH, so their frames are posted to the device together
// and it is notified once. It returns how many were sent; the error is
// returned only when none was (Linux drops it otherwise: the next call
// meets it again).
func (s *Socket) SendMmsg(msgs []Mmsghdr, flags int) (int, error) {
	if flags&MsgCmsgCompat != 0 {
		return 0, syscall.EINVAL
	}
	vlen := min(len(msgs), UIOMaxiov)
	if !s.get() {
		return 0, syscall.EBADF
	}
	defer s.put()
	var err error
	datagrams := 0
	for datagrams < vlen {
		m := &msgs[datagrams]
		var to *Sockaddr
		if n := m.Hdr.Namelen; n != 0 {
			// __copy_msghdr refuses a negative length and cuts a
			// longer one than sockaddr_storage to it; udp_sendmsg
			// wants a whole sockaddr_in.
			if n < SockaddrLen {
				err = syscall.EINVAL
				break
			}
			to = &m.Hdr.Name
		}
		var n int
		if n, err = s.sendmsg(m.Buf, to, datagrams != vlen-1); err != nil {
			break
		}
		m.Len = n
		datagrams++
	}
	if err != nil {
		s.endBatch(datagrams)
	}
	if datagrams != 0 {
		return datagrams, nil
	}
	return 0, err
}

// endBatch ends a batch that stopped at an error after sent datagrams
// went with MSG_BATCH: nothing else will notify the device of them.
func (s *Socket) endBatch(sent int) {
	if sent > 0 {
		s.sk.XmitFlush()
	}
}

// sendmsg is one datagram of SendMmsg or WriteBatch; batch is MSG_BATCH.
func (s *Socket) sendmsg(p []byte, to *Sockaddr, batch bool) (int, error) {
	o := udp.SendOpts{Batch: batch}
	if to != nil {
		o.Name = &udp.Sockaddr{Family: int(to.Family), Addr: wire.AddrFrom4(to.Addr), Port: to.Port}
	}
	rc := s.sk.Sendmsg(p, o)
	if rc < 0 {
		return 0, syscall.Errno(-rc)
	}
	return rc, nil
}

// Message is one datagram of ReadBatch or WriteBatch.
type Message struct {
	// Buf holds the datagram: the bytes to write, or the room to read
	// into.
	Buf []byte
	// N is how many bytes were read into Buf or written from it.
	N int
	// Addr is the source of a datagram read, and the destination of
	// one to write; the zero AddrPort writes to the connected peer.
	Addr netip.AddrPort
	// Flags are a read datagram's MSG_* flags: MsgTrunc when it was
	// longer than Buf (the rest is lost).
	Flags int
}

// ReadBatch reads up to len(ms) datagrams in one call, Linux's
// recvmmsg(2) with MSG_WAITFORONE: it waits for the first as ReadFrom
// does (the read deadline; Close unblocks it with net.ErrClosed), then
// takes only the datagrams already queued. It returns how many it read
// into ms. An error after the first datagram ends the batch and, as
// with recvmmsg, is kept for the next call.
func (s *Socket) ReadBatch(ms []Message) (int, error) {
	signals := s.sk.Signals()
	n, err := s.doRecvmmsg(len(ms), MsgWaitforone, nil, func(i, f int) error {
		var m Msghdr
		k, err := s.recv(ms[i].Buf, f, &m, true, signals)
		if err != nil {
			return err
		}
		ms[i].N, ms[i].Flags = k, m.Flags
		ms[i].Addr = netip.AddrPort{}
		if m.Namelen != 0 {
			ms[i].Addr = netip.AddrPortFrom(netip.AddrFrom4(m.Name.Addr), m.Name.Port)
		}
		return nil
	})
	if err != nil {
		return 0, s.opErr("read", err)
	}
	return n, nil
}

// WriteBatch writes the datagrams in ms in one call, Linux's
// sendmmsg(2): their frames are posted to the device together and it is
// notified once. It returns how many it wrote (at most UIOMaxiov),
// stopping at the first that fails; the error is returned only when
// none was written. A write deadline already past fails it.
func (s *Socket) WriteBatch(ms []Message) (int, error) {
	if d := s.wdl.Load(); d != 0 && time.Now().UnixNano() >= d {
		return 0, s.opErr("write", os.ErrDeadlineExceeded)
	}
	if !s.get() {
		return 0, s.opErr("write", syscall.EBADF)
	}
	defer s.put()
	vlen := min(len(ms), UIOMaxiov)
	var err error
	i := 0
	for ; i < vlen; i++ {
		var to *Sockaddr
		if a := ms[i].Addr; a.IsValid() {
			ip := a.Addr().Unmap()
			if !ip.Is4() {
				err = syscall.EAFNOSUPPORT
				break
			}
			to = &Sockaddr{Family: AFInet, Port: a.Port(), Addr: ip.As4()}
		}
		var n int
		if n, err = s.sendmsg(ms[i].Buf, to, i != vlen-1); err != nil {
			break
		}
		ms[i].N = n
	}
	if err != nil {
		s.endBatch(i)
	}
	if i == 0 && err != nil {
		return 0, s.opErr("write", err)
	}
	return i, nil
}
