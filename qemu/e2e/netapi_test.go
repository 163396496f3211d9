package e2e

import (
	"net"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kaidoku-net/kaidoku/qemu"
)

// udpEchoServer answers every datagram to 127.0.0.1:port with itself
// until the test ends, and returns port.
func udpEchoServer(t *testing.T) int {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	go func() {
		buf := make([]byte, 65536)
		for {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			c.WriteToUDPAddrPort(buf[:n], from)
		}
	}()
	return c.LocalAddr().(*net.UDPAddr).Port
}

var netapiLine = regexp.MustCompile(`^NETAPI (ok|FAIL) (.*)$`)

// netapiResults parses the program's lines: check name → "" for ok, or
// why it failed.
func netapiResults(text string) map[string]string {
	res := map[string]string{}
	for _, l := range strings.Split(text, "\n") {
		m := netapiLine.FindStringSubmatch(strings.TrimSpace(l))
		if m == nil {
			continue
		}
		if m[1] == "ok" {
			res[m[2]] = ""
		} else {
			name, why, _ := strings.Cut(m[2], ": ")
			res[name] = why
		}
	}
	return res
}

// tamagoNet are the checks that fail in the image because of TamaGo's net
// package (net_tamago.go, sockopt_tamago.go in the TamaGo toolchain),
// above anything net.SocketFunc can reach: kaidoku's sockets have what
// these need, but the net package never asks. A check listed here that
// passes fails the test, so that the list stays true.
var tamagoNet = map[string]string{
	"LocalAddr of a dialled socket":         "netFD.laddr is the laddr given to socket(), a nil one becoming &TCPAddr{}",
	"LocalAddr of a socket bound to port 0": "netFD.laddr is never updated with the port the socket was given",
	"WriteMsgUDP ReadMsgUDP":                "readMsg and writeMsg return ENOSYS",
	"ReadMsgUDP truncation sets MSG_TRUNC":  "readMsg returns ENOSYS",
	"WriteTo on a connected socket fails":   "netFD.isConnected is never set, so net does not refuse WriteTo",
	"SetReadBuffer SetWriteBuffer":          "setReadBuffer and setWriteBuffer return ENOPROTOOPT",
}

// The standard library's UDP API works in the image as on Linux: the
// same program (testdata/netapi) runs its checks first as a Linux process
// on the kernel's sockets, where every check must pass (so the checks are
// right), then in the image on kaidoku's stack against the same host echo
// server through QEMU's user-mode networking; each check the image fails
// is reported by name, and fails the test unless TamaGo's net package is
// what fails it (tamagoNet).
func TestNetAPIStandardLibrary(t *testing.T) {
	port := udpEchoServer(t)
	root, err := qemu.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "netapi")
	if out, err := exec.Command("go", "build", "-o", bin, filepath.Join(root, "qemu", "e2e", "testdata", "netapi")).CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	out, err := exec.Command(bin, "127.0.0.1:"+strconv.Itoa(port)).CombinedOutput()
	linux := netapiResults(string(out))
	if err != nil || len(linux) == 0 || !strings.Contains(string(out), "NETAPI done 0") {
		t.Fatalf("the checks fail on Linux's sockets (%v):\n%s", err, out)
	}

	img := buildProgram(t, "./qemu/e2e/testdata/netapi")
	vm := bootProgram(t, img, qemu.Config{Net: qemu.UserNet{}, Append: []string{"--", "10.0.2.2:" + strconv.Itoa(port)}})
	if _, err := vm.Console.ExpectString("NETAPI done", 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	image := netapiResults(vm.Console.Text())
	for name := range linux {
		why, ran := image[name]
		switch {
		case !ran:
			t.Errorf("%s: not run in the image", name)
		case why != "" && tamagoNet[name] != "":
			t.Logf("%s: fails in the image, as TamaGo's net package makes it (%s): %s", name, tamagoNet[name], why)
		case why != "":
			t.Errorf("%s: fails in the image: %s", name, why)
		case tamagoNet[name] != "":
			t.Errorf("%s: passes in the image: remove it from tamagoNet", name)
		}
	}
}
