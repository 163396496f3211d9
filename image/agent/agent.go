// Package agent is kaidoku's test agent, in the spirit of gVisor
// packetimpact's posix_server: a UDP service through which the host test
// bench asks the image to create sockets, set options, bind, connect,
// receive with flags and timeouts, send and close, and gets back the
// results, errnos, flags and control messages exactly as the socket API
// returned them. It answers only its configured test host; anything else
// is dropped and counted.
//
// The protocol is package agentproto's, which the Linux guest's agent
// (image/linuxecho) also serves with real system calls; the names below
// are its, so that callers need one import. Every request is served in a
// goroutine of its own, so a blocking receive does not hold the agent
// up; a client with several requests outstanding uses a source port per
// request.
package agent

import "github.com/kaidoku-net/kaidoku/image/agent/agentproto"

// Request, Response and Pktinfo are the protocol's messages.
type (
	Request  = agentproto.Request
	Response = agentproto.Response
	Pktinfo  = agentproto.Pktinfo
	Mmsg     = agentproto.Mmsg
	Timespec = agentproto.Timespec
)

// Operations (see agentproto).
const (
	OpSocket     = agentproto.OpSocket
	OpBind       = agentproto.OpBind
	OpConnect    = agentproto.OpConnect
	OpSetInt     = agentproto.OpSetInt
	OpGetInt     = agentproto.OpGetInt
	OpSetTimeval = agentproto.OpSetTimeval
	OpGetTimeval = agentproto.OpGetTimeval
	OpSetString  = agentproto.OpSetString
	OpMembership = agentproto.OpMembership
	OpRecv       = agentproto.OpRecv
	OpSend       = agentproto.OpSend
	OpClose      = agentproto.OpClose
	OpShutdown   = agentproto.OpShutdown
	OpIoctl      = agentproto.OpIoctl
	OpPoll       = agentproto.OpPoll
	OpNonblock   = agentproto.OpNonblock
	OpInterrupt  = agentproto.OpInterrupt
	OpCounters   = agentproto.OpCounters
	OpProcNetUDP = agentproto.OpProcNetUDP
	OpRecvmmsg   = agentproto.OpRecvmmsg
	OpSendmmsg   = agentproto.OpSendmmsg
)

// Receive-timestamp operations (see agentproto).
const (
	OpClock    = agentproto.OpClock
	OpHwtstamp = agentproto.OpHwtstamp
	OpGetStamp = agentproto.OpGetStamp
)
