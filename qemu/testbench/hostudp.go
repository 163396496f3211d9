package testbench

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
)

// HostSocket is a UDP socket of this host (network namespace), as
// /proc/net/udp shows it: the bytes queued (truesize) and the datagrams
// the kernel dropped because its receive buffer was full (sk_drops).
type HostSocket struct {
	RxQueue int64
	Drops   int64
}

// HostUDPSocket reads the /proc/net/udp line of the socket bound to
// 127.0.0.1:port.
func HostUDPSocket(port int) (HostSocket, error) {
	f, err := os.Open("/proc/net/udp")
	if err != nil {
		return HostSocket{}, err
	}
	defer f.Close()
	want := fmt.Sprintf("0100007F:%04X", port)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 13 || fs[1] != want {
			continue
		}
		_, rxq, _ := strings.Cut(fs[4], ":")
		q, _ := strconv.ParseInt(rxq, 16, 64)
		d, _ := strconv.ParseInt(fs[12], 10, 64)
		return HostSocket{RxQueue: q, Drops: d}, nil
	}
	if err := sc.Err(); err != nil {
		return HostSocket{}, err
	}
	return HostSocket{}, fmt.Errorf("no UDP socket on 127.0.0.1:%d in /proc/net/udp", port)
}

// BackendSocket returns QEMU's end of the datagram backend: frames the
// bench sent that wait for QEMU to read them, and those the host kernel
// dropped because QEMU did not read them in time (QEMU stops reading
// while the guest has no receive buffers posted). Every frame the bench
// sends is either received by the guest's driver, waiting here, or
// counted in Drops (or dropped by QEMU itself while the link is down).
func (b *Bench) BackendSocket() (HostSocket, error) { return HostUDPSocket(b.guest.Port) }

// BenchSocket returns the bench's own socket: frames from the guest not
// read yet, and those dropped because the bench did not read them in
// time.
func (b *Bench) BenchSocket() (HostSocket, error) {
	return HostUDPSocket(b.conn.LocalAddr().(*net.UDPAddr).Port)
}
