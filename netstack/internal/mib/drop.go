package mib

// DropReason is enum skb_drop_reason, limited to the reasons this stack
// can produce.
type DropReason uint8

// Drop reasons (SKB_DROP_REASON_*).
const (
	DropNotSpecified DropReason = iota
	DropNoSocket
	DropPktTooSmall
	DropUDPCsum
	DropOtherhost
	DropIPCsum
	DropIPInhdr
	DropIPRPFilter
	DropUnicastInL2Multicast
	DropXfrmPolicy
	DropIPNoproto
	DropSocketRcvbuff
	DropProtoMem
	DropSocketFilter
	DropIPInAddrErrors
	DropIPInNoRoutes
	DropDupFrag
	DropFragReasmTimeout
	DropFragTooFar
	DropICMPCsum
	DropInvalidProto
	DropUnhandledProto
	DropNeighFailed
	DropNeighQueueFull
	DropNoMem
	DropIPOutNoRoutes
	DropFullRing
	DropCPUBacklog
	DropTCPCsum
	DropPacketSockError
	DropMax
)

var dropNames = [DropMax]string{
	"NOT_SPECIFIED", "NO_SOCKET", "PKT_TOO_SMALL", "UDP_CSUM", "OTHERHOST",
	"IP_CSUM", "IP_INHDR", "IP_RPFILTER", "UNICAST_IN_L2_MULTICAST", "XFRM_POLICY",
	"IP_NOPROTO", "SOCKET_RCVBUFF", "PROTO_MEM", "SOCKET_FILTER", "IP_INADDRERRORS",
	"IP_INNOROUTES", "DUP_FRAG", "FRAG_REASM_TIMEOUT", "FRAG_TOO_FAR", "ICMP_CSUM",
	"INVALID_PROTO", "UNHANDLED_PROTO", "NEIGH_FAILED", "NEIGH_QUEUEFULL", "NOMEM",
	"IP_OUTNOROUTES", "FULL_RING", "CPU_BACKLOG", "TCP_CSUM",
	"PACKET_SOCK_ERROR",
}

// String returns the SKB_DROP_REASON_ suffix.
func (r DropReason) String() string {
	if r >= DropMax {
		return "UNKNOWN"
	}
	return dropNames[r]
}
