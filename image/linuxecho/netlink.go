//go:build linux

package main

import (
	"encoding/binary"
	"fmt"
	"syscall"
)

// configure brings lo and the interface up, gives the interface its
// address and adds the default route, over rtnetlink as `ip link set up`,
// `ip addr add` and `ip route add default via` do. The connected route
// for the prefix comes with the address, as on any Linux host.
func configure(c config, index int) error {
	nl, err := dialNetlink()
	if err != nil {
		return err
	}
	defer syscall.Close(nl.fd)
	if err := nl.linkUp(1); err != nil { // lo is always index 1
		return fmt.Errorf("lo up: %v", err)
	}
	if err := nl.linkUp(index); err != nil {
		return fmt.Errorf("link up: %v", err)
	}
	ip := c.addr.Addr().As4()
	ifa := make([]byte, syscall.SizeofIfAddrmsg)
	ifa[0] = syscall.AF_INET
	ifa[1] = byte(c.addr.Bits())
	ifa[3] = syscall.RT_SCOPE_UNIVERSE
	binary.NativeEndian.PutUint32(ifa[4:], uint32(index))
	if err := nl.request(syscall.RTM_NEWADDR, syscall.NLM_F_CREATE|syscall.NLM_F_EXCL, ifa,
		rtattr(syscall.IFA_LOCAL, ip[:]), rtattr(syscall.IFA_ADDRESS, ip[:])); err != nil {
		return fmt.Errorf("address %s: %v", c.addr, err)
	}
	if !c.gw.IsValid() {
		return nil
	}
	gw := c.gw.As4()
	rtm := make([]byte, syscall.SizeofRtMsg)
	rtm[0] = syscall.AF_INET // dst_len 0: the default route
	rtm[4] = syscall.RT_TABLE_MAIN
	rtm[5] = syscall.RTPROT_BOOT
	rtm[6] = syscall.RT_SCOPE_UNIVERSE
	rtm[7] = syscall.RTN_UNICAST
	oif := binary.NativeEndian.AppendUint32(nil, uint32(index))
	if err := nl.request(syscall.RTM_NEWROUTE, syscall.NLM_F_CREATE|syscall.NLM_F_EXCL, rtm,
		rtattr(syscall.RTA_GATEWAY, gw[:]), rtattr(syscall.RTA_OIF, oif)); err != nil {
		return fmt.Errorf("default route via %s: %v", c.gw, err)
	}
	return nil
}

// netlink is a NETLINK_ROUTE socket that sends one request at a time and
// waits for its acknowledgement.
type netlink struct {
	fd  int
	seq uint32
	buf []byte
}

func dialNetlink() (*netlink, error) {
	fd, err := syscall.Socket(syscall.AF_NETLINK, syscall.SOCK_RAW|syscall.SOCK_CLOEXEC, syscall.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("netlink socket: %v", err)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrNetlink{Family: syscall.AF_NETLINK}); err != nil {
		syscall.Close(fd)
		return nil, fmt.Errorf("netlink bind: %v", err)
	}
	return &netlink{fd: fd, buf: make([]byte, 16<<10)}, nil
}

// linkUp sets IFF_UP on interface index (RTM_NEWLINK with the flag in
// both ifi_flags and ifi_change).
func (n *netlink) linkUp(index int) error {
	ifi := make([]byte, syscall.SizeofIfInfomsg)
	ifi[0] = syscall.AF_UNSPEC
	binary.NativeEndian.PutUint32(ifi[4:], uint32(index))
	binary.NativeEndian.PutUint32(ifi[8:], syscall.IFF_UP)
	binary.NativeEndian.PutUint32(ifi[12:], syscall.IFF_UP)
	return n.request(syscall.RTM_NEWLINK, 0, ifi)
}

// request sends one message made of parts with NLM_F_REQUEST|NLM_F_ACK
// and returns the kernel's verdict from its NLMSG_ERROR reply.
func (n *netlink) request(typ, flags uint16, parts ...[]byte) error {
	n.seq++
	msg := make([]byte, syscall.SizeofNlMsghdr)
	for _, p := range parts {
		msg = append(msg, p...)
	}
	binary.NativeEndian.PutUint32(msg[0:], uint32(len(msg)))
	binary.NativeEndian.PutUint16(msg[4:], typ)
	binary.NativeEndian.PutUint16(msg[6:], flags|syscall.NLM_F_REQUEST|syscall.NLM_F_ACK)
	binary.NativeEndian.PutUint32(msg[8:], n.seq)
	if err := syscall.Sendto(n.fd, msg, 0, &syscall.SockaddrNetlink{Family: syscall.AF_NETLINK}); err != nil {
		return err
	}
	for {
		nr, _, err := syscall.Recvfrom(n.fd, n.buf, 0)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		msgs, err := syscall.ParseNetlinkMessage(n.buf[:nr])
		if err != nil {
			return err
		}
		for _, m := range msgs {
			if m.Header.Seq != n.seq || m.Header.Type != syscall.NLMSG_ERROR {
				continue
			}
			if len(m.Data) < 4 {
				return fmt.Errorf("short netlink error message")
			}
			if e := int32(binary.NativeEndian.Uint32(m.Data)); e != 0 {
				return syscall.Errno(-e)
			}
			return nil
		}
	}
}

// rtattr encodes one route attribute, padded to 4 bytes.
func rtattr(typ uint16, data []byte) []byte {
	l := syscall.SizeofRtAttr + len(data)
	b := make([]byte, (l+3)&^3)
	binary.NativeEndian.PutUint16(b[0:], uint16(l))
	binary.NativeEndian.PutUint16(b[2:], typ)
	copy(b[syscall.SizeofRtAttr:], data)
	return b
}
