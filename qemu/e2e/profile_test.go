package e2e

import (
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/pprof/profile"
	"github.com/kaidoku-net/kaidoku/qemu"
	"github.com/kaidoku-net/kaidoku/qemu/testbench"
)

// `kaidoku profile` samples the image through QEMU's gdbstub while it
// echoes: the profile holds stacks through kaidoku's own packages and the
// runtime, and the guest answers as before once the sampler has gone.
func TestProfileUnderEcho(t *testing.T) {
	bin, _ := kaidokuCmd(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()

	mac, _ := testbench.ParseMAC(qemu.MACFor(1))
	b, nd, err := testbench.Listen(mac, guestIP)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	boot(t, qemu.Config{Net: nd, GDBPort: port})
	src := netip.AddrPortFrom(testerIP, 4100)

	echoed := make(chan testbench.EchoResult, 1)
	go func() {
		echoed <- b.Echo(testbench.EchoOptions{Src: src, Port: 7, Size: 64, InFlight: 8, Duration: 4 * time.Second, Timeout: time.Second})
	}()
	out := filepath.Join(t.TempDir(), "guest.pprof")
	cmd := exec.Command(bin, "profile", "-gdb", "127.0.0.1:"+strconv.Itoa(port), "-image", image, "-duration", "2s", "-o", out)
	timer := time.AfterFunc(60*time.Second, func() { cmd.Process.Kill() })
	defer timer.Stop()
	summary, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("kaidoku profile: %v\n%s", err, summary)
	}
	t.Logf("%s", summary)
	if r := <-echoed; r.Received == 0 {
		t.Fatalf("no echo during profiling: %+v", r)
	}

	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p, err := profile.Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Sample) == 0 {
		t.Fatal("no samples")
	}
	deep := 0
	pkgs := map[string]bool{}
	for _, s := range p.Sample {
		if len(s.Location) > 2 {
			deep++
		}
		for _, loc := range s.Location {
			for _, ln := range loc.Line {
				name := ln.Function.Name
				for _, pkg := range []string{"runtime.", "kaidoku/napi.", "kaidoku/virtio.", "kaidoku/irq.", "kaidoku/board."} {
					if strings.HasPrefix(name, pkg) || strings.Contains(name, "/"+pkg) {
						pkgs[pkg] = true
					}
				}
			}
		}
	}
	if deep == 0 {
		t.Error("no stack deeper than two frames: the frame-pointer walk found nothing")
	}
	if !pkgs["runtime."] || !(pkgs["kaidoku/napi."] || pkgs["kaidoku/virtio."]) {
		t.Errorf("packages seen %v; want the runtime and the driver or NAPI", pkgs)
	}

	// The sampler detached: the guest runs and answers.
	if r := b.Echo(testbench.EchoOptions{Src: src, Port: 7, Size: 64, InFlight: 1, Count: 20, Duration: 10 * time.Second, Timeout: 2 * time.Second}); r.Received != 20 {
		t.Fatalf("after profiling: %d of 20 echoes answered", r.Received)
	}
}
