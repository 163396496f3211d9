package e2e

import (
	"bytes"
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kaidoku-net/kaidoku/qemu"
	"github.com/kaidoku-net/kaidoku/qemu/testbench"
)

// echoes sends n datagrams to the guest's echo service and checks each
// comes back, then that the guest is still running.
func (g *guest) echoes(n int) {
	g.t.Helper()
	for i := 0; i < n; i++ {
		payload := []byte(fmt.Sprintf("kernel command line %d", i))
		src := netip.AddrPortFrom(testbench.TestHost, uint16(41000+i))
		reply, err := g.b.Request(src, 7, payload, 5*time.Second)
		if err != nil {
			g.t.Fatalf("echo %d: %v", i, err)
		}
		if !bytes.Equal(reply, payload) {
			g.t.Fatalf("echo %d: got %q, want %q", i, reply, payload)
		}
		time.Sleep(200 * time.Millisecond)
	}
	select {
	case <-g.vm.Done():
		code, err := g.vm.Wait()
		g.t.Fatalf("guest ended (code %d, %v)", code, err)
	default:
	}
}

// The command line Linux is usually booted with under QEMU changes
// nothing: before the kaidoku.* namespace, panic=-1 reached the image's
// panic test hook and the image panicked right after READY. Words after
// "--" are the init's, as for Linux, even kaidoku's; microvm's own
// virtio_mmio.device= words, which it appends after them, still count.
func TestCmdlineLinuxWordsIgnored(t *testing.T) {
	for _, words := range [][]string{
		{"console=ttyS0", "panic=-1", "quiet", "loglevel=3"},
		{"console=ttyS0", "--", "kaidoku.test.panic", "kaidoku.test.exit=3", "kaidoku.bogus"},
	} {
		t.Run(strings.Join(words, " "), func(t *testing.T) {
			g := bootGuest(t, words...)
			g.echoes(5)
			if text := g.vm.Console.Text(); strings.Contains(text, "Unknown kernel command line") || strings.Contains(text, "panic") {
				t.Errorf("the words were not ignored silently:\n%s", text)
			}
			// The launcher's own words come before the user's "--".
			if _, ok := qemu.HostTSCkHz(); ok && g.vm.Accel == qemu.TCG && !strings.Contains(g.vm.Console.Text(), "kaidoku.tsc_khz") {
				t.Errorf("the launcher's kaidoku.tsc_khz did not reach the image:\n%s", g.vm.Console.Text())
			}
		})
	}
}

// An unknown kaidoku word and a value the image cannot use are reported on
// the console at boot, before READY; the image keeps its default address
// and serves.
func TestCmdlineUnknownAndMalformedReported(t *testing.T) {
	g := bootGuest(t, "console=ttyS0", "kaidoku.bogus=1", "kaidoku.addr=notanip")
	text := g.vm.Console.Text()
	ready := strings.Index(text, "READY")
	for _, want := range []string{
		`kaidoku: Unknown kernel command line parameters "kaidoku.bogus=1", ignored`,
		`kaidoku: kaidoku.addr=notanip: want an IPv4 address with its prefix length, such as 10.0.2.15/24, not "notanip"; keeping 10.0.2.15/24`,
	} {
		if i := strings.Index(text, want); i < 0 || i > ready {
			t.Errorf("console does not say %q before READY:\n%s", want, text)
		}
	}
	if !strings.Contains(text, "kaidoku: 10.0.2.15/24 via 10.0.2.2") {
		t.Errorf("the image did not keep its default address:\n%s", text)
	}
	g.echoes(1)
}

// Words built into the image (-ldflags -X main.builtinCmdline, make
// image IMAGE_FLAGS=...) apply, are checked like the boot line's, and the
// boot line overrides them.
func TestCmdlineBuiltIn(t *testing.T) {
	root, err := qemu.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(t.TempDir(), "kaidoku.elf")
	if err := qemu.BuildImage(root, "./image/kaidoku", img,
		"-X 'main.builtinCmdline=kaidoku.services=echo,stats kaidoku.echo.port=1007 kaidoku.built.in'"); err != nil {
		t.Fatal(err)
	}
	mac, _ := testbench.ParseMAC(qemu.MACFor(1))
	b, nd, err := testbench.Listen(mac, guestIP)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	vm := bootProgram(t, img, qemu.Config{Net: nd, Append: []string{"kaidoku.echo.port=2007"}})
	for _, want := range []string{
		`kaidoku: Unknown kernel command line parameters "kaidoku.built.in", ignored`,
		"services [ echo:2007 stats:161 ]",
	} {
		if !strings.Contains(vm.Console.Text(), want) {
			t.Errorf("console lacks %q", want)
		}
	}
	payload := []byte("built in")
	reply, err := b.Request(netip.AddrPortFrom(testbench.TestHost, 41100), 2007, payload, 5*time.Second)
	if err != nil || !bytes.Equal(reply, payload) {
		t.Errorf("echo on port 2007: %q, %v", reply, err)
	}
}
