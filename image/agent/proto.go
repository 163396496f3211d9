// Package agent is kaidoku's test agent, in the spirit of gVisor
// packetimpact's posix_server: a UDP service through which the host test
// bench asks the image to create sockets, set options, bind, connect,
// receive with flags and timeouts, send and close, and gets back the
// results, errnos, flags and control messages exactly as the socket API
// returned them. It answers only its configured test host; anything else
// is dropped and counted.
//
// The protocol is one JSON Request per datagram and one JSON Response to
// the request's source address and port. Every request is served in a
// goroutine of its own, so a blocking receive does not hold the agent up;
// a client with several requests outstanding uses a source port per
// request. Numbers (levels, options, flags, errnos) are Linux's.
package agent

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
}

// Pktinfo is struct in_pktinfo (IP_PKTINFO).
type Pktinfo struct {
	Ifindex int    `json:"ifindex"`
	SpecDst string `json:"spec_dst"`
	Addr    string `json:"addr"`
}
