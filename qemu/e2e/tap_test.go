package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kaidoku-net/kaidoku/qemu"
)

// The tap backend: the launcher creates a network namespace holding a tap
// device with the host side of the guest's subnet, runs QEMU inside it,
// and removes it afterwards. A socket opened in that namespace reaches the
// guest's echo service; nothing leaves the namespace.
func TestTapInNamespace(t *testing.T) {
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("iproute2's ip not found (apt-get install iproute2)")
	}
	name := fmt.Sprintf("kaidoku-e2e-%d", os.Getpid())
	ns, err := qemu.NewNamespace(name, "tap0", "10.0.2.2/24")
	if err != nil {
		t.Skipf("cannot create a network namespace here (needs root): %v", err)
	}
	t.Cleanup(func() {
		if err := ns.Close(); err != nil {
			t.Error(err)
		}
		if _, err := os.Stat("/var/run/netns/" + name); err == nil {
			t.Errorf("namespace %s left behind", name)
		}
	})
	boot(t, qemu.Config{Net: qemu.TapNet{NS: ns}, Wrap: ns.Wrap})

	conn, err := listenInNamespace(name)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	guest := &net.UDPAddr{IP: net.IPv4(10, 0, 2, 15), Port: 7}
	buf := make([]byte, 100)
	for i := 0; i < 5; i++ {
		msg := fmt.Sprintf("through the tap %d", i)
		// The first datagram may wait for ARP in both directions.
		for try := 0; ; try++ {
			conn.WriteTo([]byte(msg), guest)
			conn.SetReadDeadline(time.Now().Add(2 * time.Second))
			n, from, err := conn.ReadFrom(buf)
			if err == nil && string(buf[:n]) == msg && from.String() == guest.String() {
				break
			}
			if try == 4 {
				t.Fatalf("no echo of %q through the tap: %v", msg, err)
			}
		}
	}
}

// listenInNamespace opens a UDP socket inside the named network namespace:
// a socket belongs to the namespace of the thread that created it.
func listenInNamespace(name string) (net.PacketConn, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	self, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		return nil, err
	}
	defer self.Close()
	target, err := os.Open("/var/run/netns/" + name)
	if err != nil {
		return nil, err
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		return nil, fmt.Errorf("setns %s: %w", name, err)
	}
	conn, lerr := net.ListenPacket("udp4", "10.0.2.2:0")
	if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err != nil {
		// This thread is stuck in the namespace: never hand it back.
		runtime.Goexit()
	}
	return conn, lerr
}
