package udp

// SockCounters are one socket's line of /proc/net/udp as numbers.
type SockCounters struct {
	Inode                 uint64
	LocalPort, RemotePort uint16
	RxQueue               int
	Drops                 uint64
}

// Sockets returns every socket in the table, as /proc/net/udp lists
// them (udp4_format_sock), for counter snapshots.
func (u *UDP) Sockets() []SockCounters {
	u.bh.Lock()
	defer u.bh.Unlock()
	var out []SockCounters
	for i := range u.tbl.hash {
		for sk := u.tbl.hash[i].first(); sk != nil; sk = sk.next() {
			out = append(out, SockCounters{Inode: sk.inode, LocalPort: sk.sport, RemotePort: sk.dport,
				RxQueue: sk.Rqueue(), Drops: uint64(sk.drops.Load())})
		}
	}
	return out
}
