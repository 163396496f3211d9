package e2e

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kaidoku-net/kaidoku/qemu"
)

// README's "Write your own service" program builds as written, boots,
// and answers as the README says it does.
func TestREADMEProgram(t *testing.T) {
	root, err := qemu.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(b), "\n## Write your own service\n")
	if !ok {
		t.Fatal(`README has no "## Write your own service" section`)
	}
	_, prog, ok := strings.Cut(sec, "\n```go\n")
	if prog, _, ok = strings.Cut(prog, "\n```\n"); !ok {
		t.Fatal("the section has no Go program")
	}
	// Inside the module, so that it builds against this checkout.
	dir, err := os.MkdirTemp(filepath.Join(root, "qemu", "e2e", "testdata"), "readme-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(prog+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(t.TempDir(), "upper.elf")
	if err := qemu.BuildImage(root, dir, img, ""); err != nil {
		t.Fatal(err)
	}
	port := freeUDPPort(t)
	bootProgram(t, img, qemu.Config{Net: qemu.UserNet{Forwards: []qemu.Forward{{HostPort: port, GuestPort: 9000}}}})
	c, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("hello, unikernel\n"))
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 64)
	n, err := c.Read(buf)
	if err != nil || string(buf[:n]) != "HELLO, UNIKERNEL\n" {
		t.Fatalf("reply %q, %v; want the README's HELLO, UNIKERNEL", buf[:n], err)
	}
}
