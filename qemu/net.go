package qemu

import (
	"fmt"
	"os/exec"
	"strconv"
	"strings"
)

// Network is a guest network backend. It returns the -netdev/-device
// arguments for the guest's virtio-net device, and may set up and tear
// down host resources around the VM.
type Network interface {
	args(mac string) []string
}

// Forward is a UDP port forward from the host's 127.0.0.1 to the guest.
type Forward struct {
	HostPort, GuestPort int
}

// UserNet is QEMU user-mode networking (slirp): the guest is 10.0.2.15,
// the gateway 10.0.2.2, and each Forward maps 127.0.0.1:HostPort to the
// guest's GuestPort over UDP.
type UserNet struct {
	Forwards []Forward
}

func (u UserNet) args(mac string) []string {
	nd := "user,id=net0"
	for _, f := range u.Forwards {
		nd += fmt.Sprintf(",hostfwd=udp:127.0.0.1:%d-:%d", f.HostPort, f.GuestPort)
	}
	return []string{"-netdev", nd, "-device", "virtio-net-device,netdev=net0,mac=" + mac}
}

// DgramNet is QEMU's datagram-socket backend (-netdev dgram): each UDP
// datagram between GuestSide and BenchSide on 127.0.0.1 carries one raw
// Ethernet frame, so the test bench reads everything the guest sends and
// injects frames of its own crafting, in both directions.
type DgramNet struct {
	GuestSide int // port QEMU binds (the bench sends frames here)
	BenchSide int // port the bench binds (QEMU sends the guest's frames here)
}

func (d DgramNet) args(mac string) []string {
	nd := fmt.Sprintf("dgram,id=net0,local.type=inet,local.host=127.0.0.1,local.port=%d,remote.type=inet,remote.host=127.0.0.1,remote.port=%d",
		d.GuestSide, d.BenchSide)
	return []string{"-netdev", nd, "-device", "virtio-net-device,netdev=net0,mac=" + mac}
}

// TapNet is a tap device inside a network namespace that Namespace sets
// up. QEMU runs inside the namespace; see Namespace.
type TapNet struct {
	NS *Namespace
}

func (t TapNet) args(mac string) []string {
	return []string{
		"-netdev", "tap,id=net0,ifname=" + t.NS.Tap + ",script=no,downscript=no",
		"-device", "virtio-net-device,netdev=net0,mac=" + mac,
	}
}

// Namespace is a network namespace holding a tap device with the host side
// of the guest's subnet, created by NewNamespace and removed by Close.
// Traffic to the guest goes only to addresses inside it.
type Namespace struct {
	Name    string
	Tap     string
	HostIP  string // address of the tap in the namespace, e.g. 10.0.2.2/24
	removed bool
}

// NewNamespace creates namespace name with tap device tap addressed
// hostCIDR (e.g. "10.0.2.2/24"), up. It needs root and iproute2.
func NewNamespace(name, tap, hostCIDR string) (*Namespace, error) {
	ns := &Namespace{Name: name, Tap: tap, HostIP: hostCIDR}
	steps := [][]string{
		{"netns", "add", name},
		{"-n", name, "link", "set", "lo", "up"},
		{"-n", name, "tuntap", "add", "dev", tap, "mode", "tap"},
		{"-n", name, "addr", "add", hostCIDR, "dev", tap},
		{"-n", name, "link", "set", tap, "up"},
	}
	for _, s := range steps {
		if out, err := exec.Command("ip", s...).CombinedOutput(); err != nil {
			ns.Close()
			return nil, fmt.Errorf("ip %s: %v: %s", strings.Join(s, " "), err, out)
		}
	}
	return ns, nil
}

// Wrap returns argv run inside the namespace.
func (ns *Namespace) Wrap(argv []string) []string {
	return append([]string{"ip", "netns", "exec", ns.Name}, argv...)
}

// Close deletes the namespace and everything in it.
func (ns *Namespace) Close() error {
	if ns.removed {
		return nil
	}
	ns.removed = true
	out, err := exec.Command("ip", "netns", "del", ns.Name).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip netns del %s: %v: %s", ns.Name, err, out)
	}
	return nil
}

// MACFor returns a locally administered MAC address derived from n, for
// guests and bench endpoints that need distinct stable addresses.
func MACFor(n int) string {
	return "52:54:00:12:" + hex2(n>>8) + ":" + hex2(n)
}

func hex2(v int) string {
	s := strconv.FormatInt(int64(v&0xff), 16)
	if len(s) == 1 {
		s = "0" + s
	}
	return s
}
