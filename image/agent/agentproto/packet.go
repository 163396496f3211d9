package agentproto

// Packet sockets (AF_PACKET). Protocols travel in host order (0x0800 for
// IPv4, 3 for ETH_P_ALL); each agent converts them to the network order
// socket(2), bind(2) and sockaddr_ll take. The generic operations
// (setsockopt, getsockopt, settimeval, ioctl, nonblock, interrupt, close)
// work on a packet socket's descriptor too.
const (
	OpPacketSocket = "packet_socket"     // Value: SOCK_RAW or SOCK_DGRAM, Name: protocol → FD
	OpPacketBind   = "packet_bind"       // FD, LL
	OpPacketRecv   = "packet_recvmsg"    // FD, Len, Flags → Ret, Data, LL, Namelen, MsgFlags, Auxdata
	OpPacketSend   = "packet_sendto"     // FD, Data, Flags, LL (nil: the bound interface and protocol)
	OpPacketStats  = "packet_statistics" // FD → PacketStats (getsockopt PACKET_STATISTICS: read and reset)
)

// SockaddrLL is struct sockaddr_ll, with the protocol in host order and
// the address as Halen bytes in colon-separated hex.
type SockaddrLL struct {
	Family   int    `json:"family"`
	Protocol uint16 `json:"protocol"`
	Ifindex  int    `json:"ifindex"`
	Hatype   int    `json:"hatype"`
	Pkttype  int    `json:"pkttype"`
	Halen    int    `json:"halen"`
	Addr     string `json:"addr,omitempty"`
}

// Auxdata is struct tpacket_auxdata (PACKET_AUXDATA).
type Auxdata struct {
	Status   uint32 `json:"status"`
	Len      uint32 `json:"len"`
	Snaplen  uint32 `json:"snaplen"`
	Mac      uint16 `json:"mac"`
	Net      uint16 `json:"net"`
	VlanTCI  uint16 `json:"vlan_tci"`
	VlanTPID uint16 `json:"vlan_tpid"`
}

// PacketStats is struct tpacket_stats (PACKET_STATISTICS).
type PacketStats struct {
	Packets uint32 `json:"packets"`
	Drops   uint32 `json:"drops"`
}
