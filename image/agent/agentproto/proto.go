// Package agentproto is the wire protocol of the test agent: the
// requests the host test bench sends, the responses the agent returns,
// and their encoding. Two servers speak it — the kaidoku image's agent
// (package image/agent) and the Linux guest's (image/linuxecho, with real
// Linux system calls) — and one client, qemu/testbench, so that the same
// conformance cases run against both. It builds on any GOOS.
//
// The protocol is one JSON Request per UDP datagram and one JSON Response
// to the request's source address and port. A server answers only its
// test host; anything else is dropped and counted. Numbers (levels,
// options, flags, errnos, ioctl requests, poll events) are Linux's
// x86_64 values.
package agentproto

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"syscall"
)

// Operations.
const (
	OpSocket     = "socket"     // → FD
	OpBind       = "bind"       // FD, Addr
	OpConnect    = "connect"    // FD, Addr; Unspec disconnects (AF_UNSPEC)
	OpSetInt     = "setsockopt" // FD, Level, Name, Value
	OpGetInt     = "getsockopt" // FD, Level, Name → Value
	OpSetTimeval = "settimeval" // FD, Level, Name, Sec, Usec
	OpGetTimeval = "gettimeval" // FD, Level, Name → Sec, Usec
	OpSetString  = "setstring"  // FD, Level, Name, Str (SO_BINDTODEVICE)
	OpMembership = "membership" // FD, Name (IP_ADD/DROP_MEMBERSHIP), Group, Iface, Ifindex
	OpRecv       = "recvmsg"    // FD, Len, Flags → Ret, Data, From, Namelen, MsgFlags, cmsgs
	OpSend       = "sendto"     // FD, Data, Flags, Addr (empty: connected peer)
	OpClose      = "close"      // FD
	OpShutdown   = "shutdown"   // FD, How
	OpIoctl      = "ioctl"      // FD, Name (FIONREAD, SIOCOUTQ) → Value
	OpPoll       = "poll"       // FD, Events, TimeoutMs → Value (revents)
	OpNonblock   = "nonblock"   // FD, Value (1 on, 0 off)
	OpInterrupt  = "interrupt"  // FD: a blocked call returns EINTR (a signal's stand-in)
	OpCounters   = "counters"   // Names → Counters (e.g. "Udp.NoPorts")
	OpProcNetUDP = "procnetudp" // → Text, /proc/net/udp
)

// Batch operations.
const (
	// OpRecvmmsg is recvmmsg(2): FD, Vlen entries of Len bytes each
	// (and Controllen bytes of control each), Flags, Timeout (nil:
	// none) → Ret (datagrams), Msgs (one per datagram), Timeout (what
	// the call left of it).
	OpRecvmmsg = "recvmmsg"
	// OpSendmmsg is sendmmsg(2): FD, Msgs (Data, Addr, Namelen), Flags
	// → Ret (datagrams), Msgs (Len, msg_len, of each entry).
	OpSendmmsg = "sendmmsg"
)

// Mmsg is one entry of recvmmsg or sendmmsg (struct mmsghdr).
type Mmsg struct {
	// Len is msg_len: the bytes received (the full length with
	// MSG_TRUNC) or sent.
	Len  int    `json:"len"`
	Data []byte `json:"data,omitempty"`
	// Addr is a received datagram's source, or where to send one
	// ("a.b.c.d:port"; empty: no msg_name, the connected peer).
	Addr string `json:"addr,omitempty"`
	// Namelen is msg_namelen: as a receive returned it; for a send,
	// non-zero overrides sizeof(struct sockaddr_in) for Addr.
	Namelen  int    `json:"namelen,omitempty"`
	MsgFlags int    `json:"msg_flags,omitempty"`
	Control  []byte `json:"control,omitempty"` // msg_control as Linux fills it
}

// Timespec is struct timespec (recvmmsg's timeout).
type Timespec struct {
	Sec  int64 `json:"sec"`
	Nsec int64 `json:"nsec"`
}

// Receive-timestamp operations.
const (
	// OpClock reads the guest's CLOCK_REALTIME, the clock receive
	// timestamps (SO_TIMESTAMP…) are on → Nsec.
	OpClock = "clock"
	// OpHwtstamp is ioctl(FD, Name, ifreq) with Name SIOCGHWTSTAMP or
	// SIOCSHWTSTAMP on the interface called Str, with a struct
	// hwtstamp_config of HwtstampFlags, Value (tx_type) and How
	// (rx_filter) → errno.
	OpHwtstamp = "hwtstamp"
	// OpGetStamp is ioctl(FD, Name) with Name SIOCGSTAMP → Sec, Usec
	// or SIOCGSTAMPNS → Sec, Nsec: the last datagram's receive time.
	OpGetStamp = "getstamp"
)

// Request is one call.
type Request struct {
	ID        uint64   `json:"id"`
	Op        string   `json:"op"`
	FD        int      `json:"fd,omitempty"`
	Addr      string   `json:"addr,omitempty"` // "a.b.c.d:port"
	Unspec    bool     `json:"unspec,omitempty"`
	Level     int      `json:"level,omitempty"`
	Name      int      `json:"name,omitempty"`
	Value     int      `json:"value,omitempty"`
	Sec       int64    `json:"sec,omitempty"`
	Usec      int64    `json:"usec,omitempty"`
	Str       string   `json:"str,omitempty"`
	Group     string   `json:"group,omitempty"`
	Iface     string   `json:"iface,omitempty"`
	Ifindex   int      `json:"ifindex,omitempty"`
	Len       int      `json:"len,omitempty"`
	Flags     int      `json:"flags,omitempty"`
	Data      []byte   `json:"data,omitempty"`
	How       int      `json:"how,omitempty"`
	Events    int      `json:"events,omitempty"`
	TimeoutMs int      `json:"timeout_ms,omitempty"`
	Names     []string `json:"names,omitempty"`

	// Controllen, for recvmsg, is msg_controllen: with it the control
	// messages come back encoded in Response.Control.
	Controllen int `json:"controllen,omitempty"`

	// Vlen is recvmmsg's entry count, Timeout its timeout; Msgs are
	// sendmmsg's entries.
	Vlen    int       `json:"vlen,omitempty"`
	Timeout *Timespec `json:"timeout,omitempty"`
	Msgs    []Mmsg    `json:"msgs,omitempty"`
	// HwtstampFlags is hwtstamp_config.flags for OpHwtstamp.
	HwtstampFlags int `json:"hwtstamp_flags,omitempty"`
	// LL is a packet socket's sockaddr_ll (packet_bind, packet_sendto).
	LL *SockaddrLL `json:"ll,omitempty"`
}

// Response is a call's outcome. Errno is 0 on success.
type Response struct {
	ID       uint64            `json:"id"`
	Ret      int               `json:"ret"`
	Errno    int               `json:"errno"`
	Err      string            `json:"err,omitempty"`
	FD       int               `json:"fd,omitempty"`
	Value    int               `json:"value,omitempty"`
	Sec      int64             `json:"sec,omitempty"`
	Usec     int64             `json:"usec,omitempty"`
	Data     []byte            `json:"data,omitempty"`
	From     string            `json:"from,omitempty"`
	Namelen  int               `json:"namelen,omitempty"`
	MsgFlags int               `json:"msg_flags,omitempty"`
	RxqOvfl  *uint32           `json:"rxq_ovfl,omitempty"`
	Pktinfo  *Pktinfo          `json:"pktinfo,omitempty"`
	Control  []byte            `json:"control,omitempty"` // msg_control as Linux fills it
	Counters map[string]uint64 `json:"counters,omitempty"`
	Text     string            `json:"text,omitempty"`
	// Msgs are recvmmsg's datagrams or sendmmsg's entries; Timeout is
	// what recvmmsg left of its timeout.
	Msgs    []Mmsg    `json:"msgs,omitempty"`
	Timeout *Timespec `json:"timeout,omitempty"`
	// Nsec is OpClock's reading, ns since the Unix epoch, or
	// OpGetStamp's nanoseconds (SIOCGSTAMPNS).
	Nsec int64 `json:"nsec,omitempty"`

	// Packet sockets: the sockaddr_ll of a frame, its PACKET_AUXDATA,
	// and PACKET_STATISTICS.
	LL          *SockaddrLL  `json:"ll,omitempty"`
	Auxdata     *Auxdata     `json:"auxdata,omitempty"`
	PacketStats *PacketStats `json:"packet_stats,omitempty"`
}

// Pktinfo is struct in_pktinfo (IP_PKTINFO).
type Pktinfo struct {
	Ifindex int    `json:"ifindex"`
	SpecDst string `json:"spec_dst"`
	Addr    string `json:"addr"`
}

// MaxDatagram is the largest request or response: one UDP datagram.
const MaxDatagram = 65507

// EncodeRequest returns r's datagram.
func EncodeRequest(r *Request) ([]byte, error) { return json.Marshal(r) }

// DecodeRequest parses a request datagram.
func DecodeRequest(b []byte) (*Request, error) {
	var r Request
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("agentproto: bad request: %w", err)
	}
	return &r, nil
}

// EncodeResponse returns r's datagram. A response too large for one
// datagram (e.g. a long /proc/net/udp) is an error: the client would
// otherwise wait for an answer that never comes.
func EncodeResponse(r *Response) ([]byte, error) {
	b, err := json.Marshal(r)
	if err == nil && len(b) > MaxDatagram {
		err = fmt.Errorf("agentproto: %d-byte response exceeds a datagram", len(b))
	}
	return b, err
}

// DecodeResponse parses a response datagram.
func DecodeResponse(b []byte) (*Response, error) {
	var r Response
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("agentproto: bad response %q: %w", b, err)
	}
	return &r, nil
}

// Allowed reports whether a server answering allow serves a request from
// src: allow contains src, or allow is the zero Prefix (answer anyone).
func Allowed(allow netip.Prefix, src netip.Addr) bool {
	return !allow.IsValid() || allow.Contains(src.Unmap())
}

// ErrorResponse fills r's error fields from err: Ret −1, Errno err's
// syscall.Errno (EINVAL when err carries none) and Err its text.
func ErrorResponse(r *Response, err error) {
	var en syscall.Errno
	if errors.As(err, &en) {
		r.Errno = int(en)
	} else {
		r.Errno = int(syscall.EINVAL)
	}
	r.Err = err.Error()
	r.Ret = -1
}
