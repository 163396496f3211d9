package agent

import (
	"fmt"
	"syscall"

	"github.com/kaidoku-net/kaidoku/netstack/socket"
)

// maxVlen bounds recvmmsg's entries and sendmmsg's: what one response
// datagram can report.
const maxVlen = 2048

// recvmmsg serves OpRecvmmsg with Socket.RecvMmsg.
func recvmmsg(so *socket.Socket, req *Request, r *Response) error {
	if req.Vlen < 0 || req.Vlen > maxVlen || req.Len < 0 || req.Len > maxRecv || req.Vlen*req.Len > 1<<22 {
		return fmt.Errorf("%w: vlen %d len %d", syscall.EINVAL, req.Vlen, req.Len)
	}
	ms := make([]socket.Mmsghdr, req.Vlen)
	for i := range ms {
		ms[i].Buf = make([]byte, req.Len)
		if req.Controllen > 0 {
			ms[i].Hdr.Control = make([]byte, min(req.Controllen, maxControl))
		}
	}
	var ts *socket.Timespec
	if req.Timeout != nil {
		ts = &socket.Timespec{Sec: req.Timeout.Sec, Nsec: req.Timeout.Nsec}
	}
	n, err := so.RecvMmsg(ms, req.Flags, ts)
	if err != nil {
		return err
	}
	r.Ret = n
	if ts != nil {
		r.Timeout = &Timespec{Sec: ts.Sec, Nsec: ts.Nsec}
	}
	r.Msgs = make([]Mmsg, n)
	for i, m := range ms[:n] {
		o := &r.Msgs[i]
		o.Len = m.Len
		o.Data = m.Buf[:min(m.Len, len(m.Buf))]
		o.Namelen = m.Hdr.Namelen
		if m.Hdr.Namelen > 0 {
			o.Addr = sockaddrString(&m.Hdr.Name)
		}
		o.MsgFlags = m.Hdr.Flags
		if m.Hdr.Control != nil {
			o.Control = m.Hdr.Control[:m.Hdr.Controllen]
		}
	}
	return nil
}

// sendmmsg serves OpSendmmsg with Socket.SendMmsg.
func sendmmsg(so *socket.Socket, req *Request, r *Response) error {
	if len(req.Msgs) > maxVlen {
		return fmt.Errorf("%w: %d messages", syscall.EINVAL, len(req.Msgs))
	}
	ms := make([]socket.Mmsghdr, len(req.Msgs))
	for i, m := range req.Msgs {
		ms[i].Buf = m.Data
		if m.Addr != "" {
			sa, err := parseAddr(m.Addr)
			if err != nil {
				return err
			}
			ms[i].Hdr.Name, ms[i].Hdr.Namelen = *sa, socket.SockaddrLen
		}
		if m.Namelen != 0 {
			ms[i].Hdr.Namelen = m.Namelen
		}
	}
	n, err := so.SendMmsg(ms, req.Flags)
	if err != nil {
		return err
	}
	r.Ret = n
	r.Msgs = make([]Mmsg, len(ms))
	for i := range ms {
		r.Msgs[i].Len = ms[i].Len
	}
	return nil
}
