package e2e

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"syscall"
	"testing"

	"github.com/kaidoku-net/kaidoku/image/agent"
	"github.com/kaidoku-net/kaidoku/netstack/socket"
	"github.com/kaidoku-net/kaidoku/qemu/testbench"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
)

// IP_RECVERR through the real device: an ICMP port unreachable from the
// tester quoting a datagram the guest's socket sent to a far host is
// queued on that unconnected socket's error queue; recvmsg(MSG_ERRQUEUE)
// returns the quoted payload, the far host as msg_name, MSG_ERRQUEUE,
// and the IP_RECVERR control message byte for byte as x86_64 Linux lays
// it out (cmsghdr, sock_extended_err, the offender's sockaddr_in).
func TestConformanceErrQueue(t *testing.T) {
	g := bootGuest(t)
	fd := g.socket("0.0.0.0:6030", [3]int{socket.SolIP, socket.IPRecverr, 1})
	far := netip.MustParseAddr("192.0.2.7")

	quoted := testbench.UDP{Src: addr(guestIP, 6030), Dst: addr(far, 9000), Payload: []byte("probe")}.Packet()
	icmp := append([]byte{3, 3, 0, 0, 0, 0, 0, 0}, quoted.Bytes()...)
	binary.BigEndian.PutUint16(icmp[2:], ^checksum.Checksum(icmp, 0))
	if err := g.b.InjectIP(testbench.IPv4{Src: testerIP, Dst: guestIP, Protocol: 1, Payload: icmp}); err != nil {
		t.Fatal(err)
	}
	if r := g.ok(agent.Request{Op: agent.OpPoll, FD: fd, Events: socket.PollErr, TimeoutMs: 5000}); r.Value&socket.PollErr == 0 {
		t.Fatalf("no POLLERR: %+v", r)
	}
	r := g.call(agent.Request{Op: agent.OpRecv, FD: fd, Len: 100, Flags: socket.MsgErrqueue | socket.MsgDontwait, Controllen: 64})
	if r.Errno != 0 || string(r.Data) != "probe" || r.From != "192.0.2.7:9000" || r.Namelen != 16 || r.MsgFlags != socket.MsgErrqueue {
		t.Fatalf("recvmsg(MSG_ERRQUEUE): %+v", r)
	}
	want := make([]byte, 48)
	binary.LittleEndian.PutUint64(want[0:], 48)                            // cmsg_len
	binary.LittleEndian.PutUint32(want[8:], socket.SolIP)                  // cmsg_level
	binary.LittleEndian.PutUint32(want[12:], socket.IPRecverr)             // cmsg_type
	binary.LittleEndian.PutUint32(want[16:], uint32(syscall.ECONNREFUSED)) // ee_errno
	want[20], want[21], want[22] = 2, 3, 3                                 // SO_EE_ORIGIN_ICMP, type, code
	binary.LittleEndian.PutUint16(want[32:], syscall.AF_INET)              // offender
	copy(want[36:40], testerIP.AsSlice())
	if !bytes.Equal(r.Control, want) {
		t.Fatalf("control\n got % x\nwant % x", r.Control, want)
	}
	// sk_err went with the last queued error.
	if r := g.recv(fd, 100, 0); !errnoIs(r, syscall.EAGAIN) {
		t.Fatalf("recv after the error queue: %+v", r)
	}
}
