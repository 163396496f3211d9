package udp

import (
	"fmt"
	"io"
	"strings"
)

// WriteProcNetUDP prints /proc/net/udp (udp4_seq_show /
// udp4_format_sock): one line per socket in primary-table order, each
// padded to 127 characters; rx_queue is udp_rqueue_get and drops is
// sk_drops. inode is the socket's creation number; the kernel pointer is
// printed as zeros (%pK with kptr_restrict).
func (u *UDP) WriteProcNetUDP(w io.Writer) error {
	var b strings.Builder
	pad := func(s string) {
		b.WriteString(s)
		for i := len(s); i < 127; i++ {
			b.WriteByte(' ')
		}
		b.WriteByte('\n')
	}
	pad("   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops")
	u.bh.Lock()
	type row struct {
		bucket int
		sk     *Sock
	}
	var rows []row
	for i := range u.tbl.hash {
		for sk := u.tbl.hash[i].first(); sk != nil; sk = sk.next() {
			rows = append(rows, row{i, sk})
		}
	}
	lines := make([]string, 0, len(rows))
	for _, r := range rows {
		sk := r.sk
		lines = append(lines, fmt.Sprintf("%5d: %08X:%04X %08X:%04X %02X %08X:%08X %02X:%08X %08X %5d %8d %d %d %s %d",
			r.bucket, sk.rcvSaddr.Raw32(), sk.sport, sk.daddr.Raw32(), sk.dport, sk.state,
			0, sk.Rqueue(), 0, 0, 0, sk.uid, 0, sk.inode, 2, "0000000000000000", sk.drops.Load()))
	}
	u.bh.Unlock()
	for _, l := range lines {
		pad(l)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
