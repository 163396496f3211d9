//go:build linux

package main

import (
	"fmt"
	"net/netip"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/kaidoku-net/kaidoku/image/agent/agentproto"
)

// agentMaxVlen bounds recvmmsg's and sendmmsg's entries, as in the
// kaidoku agent.
const agentMaxVlen = 2048

// mmsghdr is struct mmsghdr on 64-bit Linux: a msghdr, then msg_len.
type mmsghdr struct {
	hdr unix.Msghdr
	len uint32
	_   [4]byte
}

// recvmmsgCall is recvmmsg(2) with every entry's name, flags and
// control data returned as the kernel wrote them, and the timeout as
// the kernel left it.
func (s *agentServer) recvmmsgCall(fd int, req *agentproto.Request, r *agentproto.Response) error {
	if req.Vlen < 0 || req.Vlen > agentMaxVlen || req.Len < 0 || req.Len > agentMaxRecv || req.Vlen*req.Len > 1<<22 {
		return fmt.Errorf("%w: vlen %d len %d", syscall.EINVAL, req.Vlen, req.Len)
	}
	vlen := req.Vlen
	ms := make([]mmsghdr, vlen+1) // +1: a valid base for vlen 0
	names := make([]unix.RawSockaddrInet4, vlen+1)
	iovs := make([]unix.Iovec, vlen+1)
	bufs := make([][]byte, vlen)
	oobs := make([][]byte, vlen)
	for i := range vlen {
		bufs[i] = make([]byte, req.Len+1) // +1: a valid base for a 0-byte read
		iovs[i].Base = &bufs[i][0]
		iovs[i].SetLen(req.Len)
		h := &ms[i].hdr
		h.Name = (*byte)(unsafe.Pointer(&names[i]))
		h.Namelen = unix.SizeofSockaddrInet4
		h.Iov, h.Iovlen = &iovs[i], 1
		if req.Controllen > 0 {
			oobs[i] = make([]byte, req.Controllen)
			h.Control = &oobs[i][0]
			h.SetControllen(req.Controllen)
		}
	}
	var ts *unix.Timespec
	if req.Timeout != nil {
		ts = &unix.Timespec{Sec: req.Timeout.Sec, Nsec: req.Timeout.Nsec}
	}
	var n uintptr
	err := s.blocking(fd, func() error {
		var e syscall.Errno
		n, _, e = unix.Syscall6(unix.SYS_RECVMMSG, uintptr(fd), uintptr(unsafe.Pointer(&ms[0])), uintptr(vlen),
			uintptr(req.Flags), uintptr(unsafe.Pointer(ts)), 0)
		return errnoErr(e)
	})
	if err != nil {
		return err
	}
	r.Ret = int(n)
	if ts != nil {
		r.Timeout = &agentproto.Timespec{Sec: ts.Sec, Nsec: ts.Nsec}
	}
	r.Msgs = make([]agentproto.Mmsg, n)
	for i := range r.Msgs {
		m, h, o := &ms[i], &ms[i].hdr, &r.Msgs[i]
		o.Len = int(m.len)
		o.Data = bufs[i][:min(o.Len, req.Len)]
		o.Namelen = int(h.Namelen)
		if h.Namelen > 0 && names[i].Family == unix.AF_INET {
			port := names[i].Port>>8 | names[i].Port<<8
			o.Addr = netip.AddrPortFrom(netip.AddrFrom4(names[i].Addr), port).String()
		}
		o.MsgFlags = int(h.Flags)
		if oobs[i] != nil {
			o.Control = oobs[i][:h.Controllen]
		}
	}
	return nil
}

// sendmmsgCall is sendmmsg(2); each entry's msg_len comes back.
func (s *agentServer) sendmmsgCall(fd int, req *agentproto.Request, r *agentproto.Response) error {
	vlen := len(req.Msgs)
	if vlen > agentMaxVlen {
		return fmt.Errorf("%w: %d messages", syscall.EINVAL, vlen)
	}
	ms := make([]mmsghdr, vlen+1)
	names := make([]unix.RawSockaddrInet4, vlen+1)
	iovs := make([]unix.Iovec, vlen+1)
	for i, m := range req.Msgs {
		h := &ms[i].hdr
		if len(m.Data) > 0 {
			iovs[i].Base = &m.Data[0]
			iovs[i].SetLen(len(m.Data))
			h.Iov, h.Iovlen = &iovs[i], 1
		}
		if m.Addr != "" {
			sa, err := parseSockaddr(m.Addr)
			if err != nil {
				return err
			}
			names[i] = rawSockaddr(unix.AF_INET, sa)
			h.Namelen = unix.SizeofSockaddrInet4
		}
		if m.Namelen != 0 {
			h.Namelen = uint32(m.Namelen)
		}
		if h.Namelen != 0 {
			h.Name = (*byte)(unsafe.Pointer(&names[i]))
		}
	}
	n, _, e := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(fd), uintptr(unsafe.Pointer(&ms[0])), uintptr(vlen), uintptr(req.Flags), 0, 0)
	if e != 0 {
		return e
	}
	r.Ret = int(n)
	r.Msgs = make([]agentproto.Mmsg, vlen)
	for i := range r.Msgs {
		r.Msgs[i].Len = int(ms[i].len)
	}
	return nil
}
